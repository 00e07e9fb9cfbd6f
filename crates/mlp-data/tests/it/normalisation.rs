//! Normalisation: the fitted statistics and what each preprocessing computes.

use super::*;

/// Per-column mean and population std of `[rows, 3072]` features, over the columns
/// `cols` pooled together.
fn pooled_stats(x: &[f32], cols: impl Iterator<Item = usize> + Clone) -> (f64, f64) {
    let rows = x.len() / IMAGE_BYTES;
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for row in x.chunks_exact(IMAGE_BYTES) {
        for c in cols.clone() {
            let v = f64::from(row[c]);
            sum += v;
            sum_sq += v * v;
            n += 1.0;
        }
    }
    assert!(rows > 0);
    let mean = sum / n;
    (mean, (sum_sq / n - mean * mean).sqrt())
}

fn train_split() -> ImageSet {
    subset().clone().into_splits(SUBSET_SIZES).unwrap().train
}

/// The statistics themselves, on the subset's 4,170 training images,
/// against values computed independently in Python from the raw files.
#[test]
fn fitted_statistics_match_an_independent_computation() {
    let train = train_split();
    let standardize = Normalizer::fit(Preprocess::Standardize, &train);
    let (offset, scale) = standardize.affine();
    let means = [125.94158727705336, 123.66353253334832, 114.36339951476319];
    let stds = [63.19665268819418, 62.33694399729335, 66.76723674949713];
    for channel in 0..3 {
        for j in [channel * 1024, channel * 1024 + 1023] {
            assert!(
                (f64::from(offset[j]) - means[channel]).abs() < 1e-4,
                "mean {channel}: {}",
                offset[j]
            );
            assert!(
                (1.0 / f64::from(scale[j]) - stds[channel]).abs() < 1e-4,
                "std {channel}: {}",
                1.0 / scale[j]
            );
        }
    }
    // Mean image, HWC: feature 0 is the red byte of pixel 0, feature 1 its green.
    let mean_image = Normalizer::fit(Preprocess::MeanImage, &train);
    let (offset, scale) = mean_image.affine();
    assert_eq!((mean_image.source_byte(0), mean_image.source_byte(1)), (0, 1024));
    assert!(
        (f64::from(offset[0]) - 132.59952038369303).abs() < 1e-4,
        "{}",
        offset[0]
    );
    assert!(
        (f64::from(offset[1]) - 137.75179856115108).abs() < 1e-4,
        "{}",
        offset[1]
    );
    assert!(scale.iter().all(|&s| s == 1.0));
}

#[test]
fn assignment_maps_0_255_to_minus_one_one() {
    let mut pixels = vec![0u8; 3 * IMAGE_BYTES];
    pixels[IMAGE_BYTES..2 * IMAGE_BYTES].fill(255);
    pixels[2 * IMAGE_BYTES..2 * IMAGE_BYTES + 1024].fill(127);
    pixels[2 * IMAGE_BYTES + 1024..].fill(128);
    let set = ImageSet::new(pixels, vec![0, 1, 2]).unwrap();
    let n = Normalizer::fit(Preprocess::Assignment, &set);
    assert_eq!(n.mode(), Preprocess::Assignment);
    let out = n.apply_all(&set);
    assert_eq!(out.len(), 3 * IMAGE_BYTES);
    assert!(out[..IMAGE_BYTES].iter().all(|&v| (v + 1.0).abs() < 1e-6), "0 -> -1");
    assert!(
        out[IMAGE_BYTES..2 * IMAGE_BYTES]
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-6),
        "255 -> 1"
    );
    // 127 and 128 sit symmetrically around 127.5 -> 0: x/255 -> (x - 0.5)/0.5.
    let (low, high) = (out[2 * IMAGE_BYTES], out[2 * IMAGE_BYTES + 1024]);
    assert!(
        (low + 1.0 / 255.0).abs() < 1e-6 && (high - 1.0 / 255.0).abs() < 1e-6,
        "{low} {high}"
    );
    // Q4 keeps CHW order.
    assert_eq!(n.feature_position(0), (0, 0, 0));
    assert_eq!(n.feature_position(2 * 1024 + 33), (2, 1, 1));
}

#[test]
fn standardize_gives_zero_mean_unit_std_per_channel_on_train() {
    let train = train_split();
    let n = Normalizer::fit(Preprocess::Standardize, &train);
    let out = n.apply_all(&train);
    for c in 0..3 {
        let (mean, std) = pooled_stats(&out, c * 1024..(c + 1) * 1024);
        assert!(mean.abs() < 1e-3, "channel {c}: mean {mean}");
        assert!((std - 1.0).abs() < 1e-3, "channel {c}: std {std}");
    }
    assert_eq!(n.feature_position(1024), (1, 0, 0));
}

#[test]
fn mean_image_is_centred_and_hwc() {
    let train = train_split();
    let n = Normalizer::fit(Preprocess::MeanImage, &train);
    let out = n.apply_all(&train);
    // Every feature has mean ~0 over the training split.
    let rows = train.len() as f64;
    let mut sums = vec![0.0f64; IMAGE_BYTES];
    for row in out.chunks_exact(IMAGE_BYTES) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += f64::from(v);
        }
    }
    let worst = sums.iter().map(|s| (s / rows).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "largest feature mean {worst}");

    // Feature (h*32+w)*3+c is source byte c*1024+h*32+w minus that byte's mean.
    let mean_of = |src: usize| {
        train
            .pixels()
            .chunks_exact(IMAGE_BYTES)
            .map(|img| f64::from(img[src]))
            .sum::<f64>()
            / rows
    };
    for (h, w, c) in [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0), (5, 7, 2), (31, 31, 1)] {
        let j = (h * 32 + w) * 3 + c;
        let src = c * 1024 + h * 32 + w;
        assert_eq!(n.feature_position(j), (c, h, w));
        for i in [0, 17, 4_169] {
            let expected = f64::from(train.image(i)[src]) - mean_of(src);
            let got = f64::from(out[i * IMAGE_BYTES + j]);
            assert!(
                (got - expected).abs() < 1e-3,
                "image {i} feature {j}: {got} vs {expected}"
            );
        }
    }
}

#[test]
fn statistics_come_from_train_and_apply_elsewhere() {
    let splits = subset().clone().into_splits(SUBSET_SIZES).unwrap();
    let n = Normalizer::fit(Preprocess::Standardize, &splits.train);
    // The training map applies to validation as is; fitting on validation would give
    // other numbers, so the statistics really are the training split's.
    let val = n.apply(&splits.val, &[3]);
    let refit = Normalizer::fit(Preprocess::Standardize, &splits.val).apply(&splits.val, &[3]);
    assert_ne!(val, refit);
    let whole = Normalizer::fit(Preprocess::Standardize, &subset().train).apply(&splits.val, &[3]);
    assert_ne!(val, whole);
}

#[test]
fn apply_into_appends_rows_in_index_order() {
    let set = subset().test.clone();
    for mode in [Preprocess::Assignment, Preprocess::Standardize, Preprocess::MeanImage] {
        let n = Normalizer::fit(mode, &set);
        let mut out = vec![42.0];
        n.apply_into(&set, &[5, 2], &mut out);
        assert_eq!(out.len(), 1 + 2 * IMAGE_BYTES);
        assert_eq!(out[0], 42.0);
        assert_eq!(&out[1..1 + IMAGE_BYTES], n.apply(&set, &[5]).as_slice(), "{mode}");
        assert_eq!(&out[1 + IMAGE_BYTES..], n.apply(&set, &[2]).as_slice(), "{mode}");
    }
}

#[test]
fn preprocess_names() {
    for (mode, name) in [
        (Preprocess::Assignment, "assignment"),
        (Preprocess::Standardize, "standardize"),
        (Preprocess::MeanImage, "mean-image"),
    ] {
        assert_eq!(mode.to_string(), name);
        assert_eq!(name.parse::<Preprocess>().unwrap(), mode);
    }
    let err = "mean_image".parse::<Preprocess>().unwrap_err().to_string();
    assert!(err.contains("mean_image") && err.contains("mean-image"), "{err}");
}
