use mlp_train::jobs::{command_line, write_csv};

#[test]
fn csv_is_written_whole_and_no_temporary_file_is_left() {
    #[derive(serde::Serialize)]
    struct Row {
        a: u32,
        b: Option<f64>,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    write_csv(&path, &[Row { a: 1, b: None }, Row { a: 2, b: Some(0.5) }]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,\n2,0.5\n");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn command_lines_are_quoted_for_the_shell() {
    let args = ["mlp-cli", "depth-study", "--out", "my dir", "--layers", "2..6"].map(String::from);
    assert_eq!(command_line(&args), "mlp-cli depth-study --out 'my dir' --layers 2..6");
}
