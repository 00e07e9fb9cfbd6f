//! Fetching, verifying and extracting the official binary archive.

use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use md5::{Digest, Md5};

use crate::{DataError, Layout};

/// The official binary archive (170 MB).
pub const CIFAR10_BINARY_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Its MD5, as published on the dataset's home page.
pub const CIFAR10_BINARY_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";

/// Name the archive is stored under in the download directory.
const ARCHIVE_NAME: &str = "cifar-10-binary.tar.gz";
/// Without network, fail in seconds rather than hang; a reachable server answers faster.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed between sending the request and the response headers.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Read and hash in chunks this large.
const CHUNK: usize = 1 << 16;

/// Downloads the official archive into `dir` (created if needed), verifies its MD5 and
/// extracts it; returns the extracted directory, `dir/cifar-10-batches-bin`.
///
/// The archive goes to a temporary file renamed into place once complete and verified,
/// so an interrupted download never looks finished. An archive already in `dir` with the
/// right MD5 is not fetched again. `progress(bytes_so_far, total_if_known)` is called as
/// bytes arrive.
pub fn download(dir: &Path, progress: &mut dyn FnMut(u64, Option<u64>)) -> Result<PathBuf, DataError> {
    download_from(CIFAR10_BINARY_URL, CIFAR10_BINARY_MD5, dir, progress)
}

/// [`download`] from another `url` (a mirror, or a local server in tests), checked
/// against `expected_md5` (hex).
pub fn download_from(
    url: &str,
    expected_md5: &str,
    dir: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<PathBuf, DataError> {
    fs::create_dir_all(dir).map_err(DataError::io("create the directory", dir))?;
    let archive = dir.join(ARCHIVE_NAME);
    let expected = expected_md5.to_ascii_lowercase();
    let existing_md5 = if archive.is_file() {
        Some(md5_hex(&archive)?)
    } else {
        None
    };
    if existing_md5.as_deref() != Some(expected.as_str()) {
        fetch(url, &expected, &archive, progress).map_err(|error| match (error, &existing_md5) {
            // The manual route ends with "put it at <archive>": say that the
            // file already there is not it.
            (
                DataError::Download {
                    url,
                    reason,
                    md5,
                    archive,
                },
                Some(actual),
            ) => DataError::Download {
                reason: format!(
                    "{reason} (the {} already there has MD5 {actual}, not the archive's: replace it)",
                    archive.display()
                ),
                url,
                md5,
                archive,
            },
            (error, _) => error,
        })?;
    }
    extract_tar_gz(&archive, dir)?;
    let extracted = dir.join(Layout::Binary.archive_dir());
    if !extracted.is_dir() {
        return Err(DataError::Extract {
            archive,
            dir: dir.to_path_buf(),
            reason: format!("the archive holds no {} directory", Layout::Binary.archive_dir()),
        });
    }
    Ok(extracted)
}

/// The MD5 of a file, as 32 lowercase hex digits.
pub fn md5_hex(path: &Path) -> Result<String, DataError> {
    let mut file = File::open(path).map_err(DataError::io("open", path))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf).map_err(DataError::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Extracts the gzip-compressed tar `archive` into `dir`. Entries that would land outside
/// `dir` (absolute paths, `..`) are refused by the `tar` crate.
pub fn extract_tar_gz(archive: &Path, dir: &Path) -> Result<(), DataError> {
    let file = File::open(archive).map_err(DataError::io("open", archive))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    tar.unpack(dir).map_err(|e| DataError::Extract {
        archive: archive.to_path_buf(),
        dir: dir.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Streams `url` into `archive` through a `.part` file, hashing as it goes so the 170 MB
/// are not read twice.
fn fetch(
    url: &str,
    expected_md5: &str,
    archive: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<(), DataError> {
    let failed = |reason: String| DataError::Download {
        url: url.to_owned(),
        reason,
        md5: expected_md5.to_owned(),
        archive: archive.to_path_buf(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(CONNECT_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let total = response.body().content_length();
    let mut body = response.into_body().into_reader();

    let mut part_name = archive.as_os_str().to_owned();
    part_name.push(".part");
    let part = PathBuf::from(part_name);
    let result = stream(&mut body, &part, total, progress, &failed).and_then(|actual| {
        if actual == expected_md5 {
            Ok(())
        } else {
            Err(DataError::Md5Mismatch {
                url: url.to_owned(),
                kept: part.clone(),
                expected: expected_md5.to_owned(),
                actual,
            })
        }
    });
    match result {
        Ok(()) => fs::rename(&part, archive).map_err(DataError::io("move the finished download to", archive)),
        Err(DataError::Md5Mismatch {
            url: _,
            kept: _,
            expected,
            actual,
        }) => {
            // Kept aside under its MD5 for the user to compare with the mirror's,
            // where no later run mistakes it for the archive.
            let mut kept_name = archive.as_os_str().to_owned();
            kept_name.push(format!(".md5-{actual}"));
            let kept = PathBuf::from(kept_name);
            fs::rename(&part, &kept).map_err(DataError::io("keep the rejected download as", &kept))?;
            Err(DataError::Md5Mismatch {
                url: url.to_owned(),
                kept,
                expected,
                actual,
            })
        }
        Err(e) => {
            // Best effort: the error being reported matters more than a leftover file.
            let _ = fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Copies `body` into the file `part`, reporting progress; returns the MD5 of the bytes.
fn stream(
    body: &mut dyn Read,
    part: &Path,
    total: Option<u64>,
    progress: &mut dyn FnMut(u64, Option<u64>),
    failed: &dyn Fn(String) -> DataError,
) -> Result<String, DataError> {
    let mut file = File::create(part).map_err(DataError::io("create", part))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0; CHUNK];
    let mut so_far = 0u64;
    progress(so_far, total);
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| failed(format!("the transfer broke off after {so_far} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(DataError::io("write", part))?;
        so_far += n as u64;
        progress(so_far, total);
    }
    file.sync_all().map_err(DataError::io("write", part))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0a, 0xff]), "000aff");
    }
}
