#[test]
fn a_heatmap_is_drawn_as_a_png() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heat.png");
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let values = vec![
        vec![Some(0.30), Some(0.41), None],
        vec![Some(0.35), Some(0.43), Some(0.40)],
    ];
    mlp_train::plots::heatmap(
        &path,
        "t",
        "rows",
        &names(&["50", "100"]),
        "cols",
        &names(&["a", "b", "c"]),
        &values,
    )
    .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], b"\x89PNG");
}
