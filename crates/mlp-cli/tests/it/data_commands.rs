//! `data-info` and `download` as a user meets them: the bundled subset
//! described, and an archive fetched from a mirror with its MD5 checked.

use crate::common::*;

#[test]
fn data_info_describes_the_bundled_subset() {
    let dir = subset();
    let mut args = vec!["data-info", "--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(&SUBSET_SPLITS);
    let out = mlp_cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("layout: binary"), "{stdout}");
    assert!(stdout.contains("images: 5170 training, 1017 test"), "{stdout}");
    assert!(
        stdout.contains("data_batch_1.bin") && stdout.contains("1102 records"),
        "{stdout}"
    );
    // Per split, counted independently in Python from the subset's files.
    let row = |name: &str| -> Vec<String> {
        let line = stdout.lines().rfind(|l| l.trim_start().starts_with(name)).unwrap();
        line.split_whitespace().map(str::to_owned).collect()
    };
    assert_eq!(row("airplane"), ["airplane", "418", "103", "103"], "{stdout}");
    assert_eq!(row("truck"), ["truck", "403", "110", "109"], "{stdout}");
    assert_eq!(row("total"), ["total", "4170", "1000", "1000"], "{stdout}");
}

#[test]
fn data_info_without_split_flags_counts_all_images_and_suggests_splits_that_fit() {
    let dir = subset();
    let stdout = succeeds(&["data-info", "--data-dir", dir.to_str().unwrap()]);
    let total = stdout.lines().find(|l| l.trim_start().starts_with("total")).unwrap();
    assert_eq!(total.split_whitespace().collect::<Vec<_>>(), ["total", "5170", "1017"]);
    let airplane = stdout.lines().find(|l| l.trim_start().starts_with("airplane")).unwrap();
    assert_eq!(
        airplane.split_whitespace().collect::<Vec<_>>(),
        ["airplane", "521", "105"]
    );
    assert!(
        stdout.contains("--num-train 4170 --num-val 1000 --num-test 1000"),
        "{stdout}"
    );
}

/// The bundled subset packed as the official archive packs it
/// (`cifar-10-batches-bin/…` in a gzipped tar).
fn subset_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    tar.append_dir_all("cifar-10-batches-bin", subset()).unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

#[test]
fn download_from_a_mirror_checks_the_md5() {
    let archive = subset_archive();
    let tmp = tempfile::tempdir().unwrap();
    let packed = tmp.path().join("packed.tar.gz");
    std::fs::write(&packed, &archive).unwrap();
    let md5 = mlp_data::md5_hex(&packed).unwrap();

    // A mirror serving this archive, with its MD5 given: fetched, checked, extracted, readable.
    let dir = tmp.path().join("data");
    let (url, server) = serve_once(archive.clone());
    let stdout = succeeds(&[
        "download",
        "--quiet",
        "--dir",
        dir.to_str().unwrap(),
        "--url",
        &url,
        "--md5",
        &md5.to_uppercase(),
    ]);
    server.join().unwrap();
    assert!(stdout.contains("CIFAR-10 is ready in"), "{stdout}");
    let info = succeeds(&["data-info", "--data-dir", dir.to_str().unwrap()]);
    assert!(info.contains("images: 5170 training, 1017 test"), "{info}");

    // The same mirror checked against the official MD5: refused, nothing
    // extracted, the fetched file kept aside under its own MD5.
    let dir = tmp.path().join("official");
    let (url, server) = serve_once(archive.clone());
    let err = fails(&["download", "--quiet", "--dir", dir.to_str().unwrap(), "--url", &url]);
    server.join().unwrap();
    let kept = dir.join(format!("cifar-10-binary.tar.gz.md5-{md5}"));
    for part in [
        url.as_str(),
        &md5,
        mlp_data::CIFAR10_BINARY_MD5,
        "nothing was extracted",
        &kept.display().to_string(),
    ] {
        assert!(err.contains(part), "'{part}' missing: {err}");
    }
    assert_eq!(std::fs::read(&kept).unwrap(), archive);
    assert!(!dir.join("cifar-10-batches-bin").exists());
    assert!(!dir.join("cifar-10-binary.tar.gz").exists());

    // A malformed --md5 is a usage error.
    let out = mlp_cli(&["download", "--dir", dir.to_str().unwrap(), "--md5", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--md5"));
}
