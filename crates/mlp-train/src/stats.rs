//! Statistics over seeds.

/// Mean and sample standard deviation (n - 1 in the denominator; 0 for one value).
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return Some((mean, 0.0));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var.sqrt()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_standard_deviation() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.4]), Some((0.4, 0.0)));
        let (mean, std) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert!((mean - 5.0).abs() < 1e-12);
        assert!((std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }
}
