//! Helpers shared by the binary's test files: run `mlp-cli`, expect success
//! or a clean failure.

#![allow(dead_code)] // each test file uses its own subset of the helpers

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn subset() -> PathBuf {
    mlp_data::bundled_subset_dir()
}

pub fn mlp_cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlp-cli"))
        .args(args)
        // A test must never treat a software renderer as a GPU.
        .env_remove("MLP_ALLOW_SOFTWARE_GPU")
        .output()
        .expect("the binary runs")
}

/// Runs and expects failure; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = mlp_cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} should fail; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    stderr
}

/// Runs and expects success; returns stdout.
pub fn succeeds(args: &[&str]) -> String {
    let out = mlp_cli(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The split flags that fit the bundled subset (5,170 training, 1,017 test images).
pub const SUBSET_SPLITS: [&str; 6] = ["--num-train", "4170", "--num-val", "1000", "--num-test", "1000"];

/// `command` (one or more words) on the CPU, quiet, on the bundled subset's
/// splits, writing into `out`, then `extra`.
pub fn subset_args<'a>(command: &[&'a str], subset: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = command.to_vec();
    args.extend_from_slice(&["--quiet", "--device", "cpu", "--data-dir", subset]);
    args.extend_from_slice(&SUBSET_SPLITS);
    args.extend_from_slice(&["--out", out]);
    args.extend_from_slice(extra);
    args
}

pub fn study_args<'a>(subset: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    subset_args(&["depth-study"], subset, out, extra)
}

/// Copies the bundled subset's files into `dir` (which must exist), to be altered.
pub fn copy_subset(dir: &std::path::Path) {
    for entry in std::fs::read_dir(subset()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

/// Serves `body` to one HTTP request on a local port (a mirror, for
/// `download --url`); returns the URL and the server thread.
pub fn serve_once(body: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/mirror/cifar-10-binary.tar.gz",
        listener.local_addr().unwrap()
    );
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).unwrap() {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
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

/// `bench` on the CPU timing one tiny model ([8]) for one epoch of 200
/// images, untimed warm-up off, printed as `format`, then `extra`.
pub fn tiny_bench_args<'a>(format: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "bench",
        "--quiet",
        "--device",
        "cpu",
        "--models",
        "8",
        "--num-train",
        "200",
    ];
    args.extend_from_slice(&["--num-val", "50", "--epochs", "1", "--warmup", "0", "--peak-size", "64"]);
    args.extend_from_slice(&["--format", format]);
    args.extend_from_slice(extra);
    args
}
