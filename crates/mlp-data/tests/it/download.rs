//! Downloading: fetch, MD5 check, extraction, and every way it can fail.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;
use mlp_data::{download_from, extract_tar_gz, md5_hex};

/// A gzip-compressed tar holding `cifar-10-batches-bin/hello.txt`.
fn small_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let content = b"hello, cifar";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "cifar-10-batches-bin/hello.txt", &content[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// Serves `body` to one HTTP request on a local port, then stops listening.
fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
    });
    (url, handle)
}

#[test]
fn md5_of_known_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fox.txt");
    fs::write(&path, "The quick brown fox jumps over the lazy dog").unwrap();
    assert_eq!(md5_hex(&path).unwrap(), "9e107d9d372bb6826bd81d3542a419d6");
    fs::write(&path, "").unwrap();
    assert_eq!(md5_hex(&path).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
    assert_error(md5_hex(&tmp.path().join("absent")), &["absent"]);
}

#[test]
fn extract_a_built_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a.tar.gz");
    fs::write(&archive, small_archive()).unwrap();
    let out = tmp.path().join("out");
    extract_tar_gz(&archive, &out).unwrap();
    assert_eq!(
        fs::read(out.join("cifar-10-batches-bin/hello.txt")).unwrap(),
        b"hello, cifar"
    );

    fs::write(&archive, b"not gzip").unwrap();
    assert_error(extract_tar_gz(&archive, &out), &["a.tar.gz", "cannot extract"]);
}

#[test]
fn unreachable_server_fails_fast_with_manual_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    // Port 9 (discard) on the loopback interface: nothing listens, the connection is
    // refused at once, whatever the network of the machine running the tests.
    let result = download_from(
        "http://127.0.0.1:9/cifar-10-binary.tar.gz",
        mlp_data::CIFAR10_BINARY_MD5,
        tmp.path(),
        &mut |_, _| {},
    );
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    let archive = tmp.path().join("cifar-10-binary.tar.gz").display().to_string();
    let err = assert_error(
        result,
        &[
            "127.0.0.1:9",
            "by hand",
            "cifar-10-binary.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar.html",
            &archive,
            "--data-dir",
            "tar xzf",
        ],
    );
    assert!(matches!(err, DataError::Download { .. }));
    assert!(!tmp.path().join("cifar-10-binary.tar.gz").exists());
}

#[test]
fn downloads_verifies_extracts_and_does_not_fetch_twice() {
    let body = small_archive();
    let md5 = {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x");
        fs::write(&p, &body).unwrap();
        md5_hex(&p).unwrap()
    };
    let (url, server) = serve_once(body.clone());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar");
    let mut calls = Vec::new();
    let extracted = download_from(&url, &md5, &dir, &mut |got, total| calls.push((got, total))).unwrap();
    server.join().unwrap();
    assert_eq!(extracted, dir.join("cifar-10-batches-bin"));
    assert_eq!(fs::read(extracted.join("hello.txt")).unwrap(), b"hello, cifar");
    assert_eq!(fs::read(dir.join("cifar-10-binary.tar.gz")).unwrap(), body);
    assert!(!dir.join("cifar-10-binary.tar.gz.part").exists());
    let len = body.len() as u64;
    assert_eq!(calls.first(), Some(&(0, Some(len))));
    assert_eq!(calls.last(), Some(&(len, Some(len))));

    // The server is gone: a second call must use the archive already there.
    fs::remove_dir_all(&extracted).unwrap();
    let again = download_from(&url, &md5.to_uppercase(), &dir, &mut |_, _| panic!("fetched again")).unwrap();
    assert_eq!(fs::read(again.join("hello.txt")).unwrap(), b"hello, cifar");
}

#[test]
fn wrong_md5_is_refused_nothing_extracted_and_the_archive_kept_aside() {
    let body = small_archive();
    let (url, server) = serve_once(body.clone());
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "00000000000000000000000000000000";
    let result = download_from(&url, wrong, tmp.path(), &mut |_, _| {});
    server.join().unwrap();
    let actual = {
        let p = tmp.path().join("body");
        fs::write(&p, &body).unwrap();
        let md5 = md5_hex(&p).unwrap();
        fs::remove_file(p).unwrap();
        md5
    };
    let kept = tmp.path().join(format!("cifar-10-binary.tar.gz.md5-{actual}"));
    let err = assert_error(
        result,
        &[
            &url,
            wrong,
            &actual,
            "expected",
            "nothing was extracted",
            &kept.display().to_string(),
        ],
    );
    assert!(matches!(err, DataError::Md5Mismatch { .. }));
    assert_eq!(fs::read(&kept).unwrap(), body, "kept aside, as fetched");
    assert!(!tmp.path().join("cifar-10-binary.tar.gz").exists());
    assert!(!tmp.path().join("cifar-10-binary.tar.gz.part").exists());
    assert!(!tmp.path().join("cifar-10-batches-bin").exists(), "nothing extracted");
}

#[test]
fn a_wrong_archive_already_there_is_named_when_the_fetch_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    fs::write(&archive, b"not the archive").unwrap();
    let junk_md5 = md5_hex(&archive).unwrap();
    let expected = "c32a1d4ab5d03f1284b67883e8d87530";
    // Port 9 is closed: the fetch fails at once.
    let result = download_from("http://127.0.0.1:9/", expected, tmp.path(), &mut |_, _| {});
    let err = assert_error(result, &["already there", &junk_md5, "replace it", expected]);
    assert!(matches!(err, DataError::Download { .. }));
    assert_eq!(
        fs::read(&archive).unwrap(),
        b"not the archive",
        "left for the user to inspect"
    );
}

#[test]
fn archive_without_the_batches_directory() {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "other/x", &b"x"[..]).unwrap();
    let body = tar.into_inner().unwrap().finish().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("cifar-10-binary.tar.gz"), &body).unwrap();
    let md5 = md5_hex(&tmp.path().join("cifar-10-binary.tar.gz")).unwrap();
    // Already present with the right MD5, so the (closed) URL is never contacted.
    let result = download_from("http://127.0.0.1:9/", &md5, tmp.path(), &mut |_, _| {});
    assert_error(result, &["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
}
