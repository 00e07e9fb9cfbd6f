//! Reader of the Python layout: pickled dicts with `data` (a numpy `uint8` array
//! `[n, 3072]`, CHW rows) and `labels` (a list of ints), plus `batches.meta` with
//! `label_names`.

use std::fs;
use std::path::Path;

use crate::pickle::{Id, Object, Pickle};
use crate::{DataError, IMAGE_BYTES, NUM_CLASSES};

/// Appends the images of the pickled batch `path` to `pixels` (`[n, 3072]`) and `labels`
/// (`[n]`) and returns `n`.
pub(crate) fn read_batch(path: &Path, pixels: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<usize, DataError> {
    let bytes = fs::read(path).map_err(DataError::io("read", path))?;
    let bad = |reason: String| DataError::BadPickle {
        path: path.to_path_buf(),
        reason,
    };
    let pickle = Pickle::parse(&bytes).map_err(bad)?;
    let root = pickle.root();
    if !matches!(pickle.get(root), Object::Dict(_)) {
        return Err(bad(format!("it holds {}, expected a dict", pickle.describe(root))));
    }
    let data = pickle
        .dict_get(root, "data")
        .ok_or_else(|| bad("the dict has no 'data' entry".into()))?;
    let label_list = pickle
        .dict_get(root, "labels")
        .ok_or_else(|| bad("the dict has no 'labels' entry".into()))?;

    let raw = u8_matrix(&pickle, data).map_err(bad)?;
    let records = raw.len() / IMAGE_BYTES;
    if records == 0 {
        return Err(DataError::EmptyFile {
            path: path.to_path_buf(),
        });
    }
    let label_ids = pickle.items(label_list).ok_or_else(|| {
        bad(format!(
            "'labels' is {}, expected a list of integers",
            pickle.describe(label_list)
        ))
    })?;
    if label_ids.len() != records {
        return Err(bad(format!(
            "'data' has {records} images but 'labels' has {} entries",
            label_ids.len()
        )));
    }

    labels.reserve(records);
    for (record, &id) in label_ids.iter().enumerate() {
        let label = pickle.int(id).ok_or_else(|| {
            bad(format!(
                "label {record} is {}, expected an integer",
                pickle.describe(id)
            ))
        })?;
        match u8::try_from(label) {
            Ok(l) if usize::from(l) < NUM_CLASSES => labels.push(l),
            _ => {
                return Err(DataError::BadLabel {
                    path: path.to_path_buf(),
                    record,
                    label,
                });
            }
        }
    }
    pixels.extend_from_slice(raw);
    Ok(records)
}

/// Reads `label_names` from the pickled `batches.meta`.
pub(crate) fn read_class_names(path: &Path) -> Result<Vec<String>, DataError> {
    let bytes = fs::read(path).map_err(DataError::io("read", path))?;
    let bad = |reason: String| DataError::BadMeta {
        path: path.to_path_buf(),
        reason,
    };
    let pickle = Pickle::parse(&bytes).map_err(|reason| DataError::BadPickle {
        path: path.to_path_buf(),
        reason,
    })?;
    let names = pickle
        .dict_get(pickle.root(), "label_names")
        .ok_or_else(|| bad("it is not a dict with a 'label_names' entry".into()))?;
    let ids = pickle
        .items(names)
        .ok_or_else(|| bad(format!("'label_names' is {}", pickle.describe(names))))?;
    if ids.len() != NUM_CLASSES {
        return Err(bad(format!("'label_names' has {} entries", ids.len())));
    }
    ids.iter()
        .map(|&id| match pickle.get(id) {
            Object::Str(s) => Ok(s.to_string()),
            // Python 2 `str`: the official files are ASCII; latin-1 is what Python 3's
            // `pickle.load(f, encoding='latin1')` would decode it as.
            Object::Bytes(b) => Ok(b.iter().map(|&c| char::from(c)).collect()),
            _ => Err(bad(format!("a class name is {}", pickle.describe(id)))),
        })
        .collect()
}

/// The raw bytes of a C-ordered numpy `uint8` array of shape `[n, 3072]`, whichever way
/// numpy pickled it:
/// - `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` followed by `BUILD` with
///   the state `(version, shape, dtype, is_fortran, raw)` (protocols 2 to 4; numpy 2
///   names the module `numpy._core.multiarray`), or
/// - `numpy.core.numeric._frombuffer(raw, dtype, shape, order)` (protocol 5).
fn u8_matrix<'p>(pickle: &'p Pickle<'_>, id: Id) -> Result<&'p [u8], String> {
    let not_array = || format!("'data' is {}, expected a numpy uint8 array", pickle.describe(id));
    let Object::Call { func, args, state } = pickle.get(id) else {
        return Err(not_array());
    };
    let Object::Global { module, name } = pickle.get(*func) else {
        return Err(not_array());
    };
    let numpy_module = |suffix: &str| {
        module
            .strip_prefix("numpy.core.")
            .or_else(|| module.strip_prefix("numpy._core."))
            == Some(suffix)
    };

    let (shape, dtype, fortran, raw) = if numpy_module("multiarray") && name == "_reconstruct" {
        let state = state.ok_or("'data' is a numpy array without its state (no BUILD)")?;
        let fields = pickle.items(state).ok_or("the numpy array state is not a tuple")?;
        // numpy accepts the state with or without the leading version number.
        let fields = match fields {
            [_version, rest @ ..] if rest.len() == 4 => rest,
            rest if rest.len() == 4 => rest,
            _ => {
                return Err(format!(
                    "the numpy array state has {} fields, expected 4 or 5",
                    fields.len()
                ));
            }
        };
        let fortran = pickle
            .int(fields[2])
            .ok_or("the array's is_fortran flag is not a bool")?
            != 0;
        (fields[0], fields[1], fortran, fields[3])
    } else if numpy_module("numeric") && name == "_frombuffer" {
        let &[raw, dtype, shape, order] = pickle.items(*args).unwrap_or_default() else {
            return Err("_frombuffer does not have (buffer, dtype, shape, order) arguments".into());
        };
        let fortran = pickle.text(order) == Some(b"F");
        (shape, dtype, fortran, raw)
    } else {
        return Err(not_array());
    };

    check_uint8(pickle, dtype)?;
    let dims: Vec<i64> = pickle
        .items(shape)
        .ok_or("the array's shape is not a tuple")?
        .iter()
        .map(|&d| pickle.int(d).ok_or("the array's shape holds a non-integer"))
        .collect::<Result<_, _>>()?;
    let &[rows, cols] = dims.as_slice() else {
        return Err(format!("'data' has shape {dims:?}, expected [n, {IMAGE_BYTES}]"));
    };
    if cols != IMAGE_BYTES as i64 || rows < 0 {
        return Err(format!("'data' has shape {dims:?}, expected [n, {IMAGE_BYTES}]"));
    }
    // A Fortran-ordered [n, 3072] array stores pixel 0 of every image first; the
    // official files are C-ordered, so anything else is refused rather than guessed.
    if fortran && rows > 1 {
        return Err("'data' is stored in Fortran (column-major) order; expected C order".into());
    }
    let raw = pickle
        .text(raw)
        .ok_or_else(|| format!("the array's data is {}, expected raw bytes", pickle.describe(raw)))?;
    let expected = usize::try_from(rows).ok().and_then(|r| r.checked_mul(IMAGE_BYTES));
    if expected != Some(raw.len()) {
        return Err(format!(
            "'data' has shape [{rows}, {IMAGE_BYTES}] but {} bytes of pixels",
            raw.len()
        ));
    }
    Ok(raw)
}

/// Accepts `numpy.dtype('u1')`, the only element type CIFAR-10 uses.
fn check_uint8(pickle: &Pickle<'_>, id: Id) -> Result<(), String> {
    let code = match pickle.get(id) {
        Object::Call { func, args, .. } => match pickle.get(*func) {
            Object::Global { module, name } if module.starts_with("numpy") && name == "dtype" => pickle
                .items(*args)
                .and_then(|a| a.first())
                .and_then(|&c| pickle.text(c)),
            _ => None,
        },
        _ => None,
    };
    match code {
        Some(b"u1" | b"|u1" | b"uint8") => Ok(()),
        Some(other) => Err(format!(
            "'data' has dtype '{}', expected uint8 ('u1')",
            String::from_utf8_lossy(other)
        )),
        None => Err(format!(
            "the array's dtype is {}, expected numpy.dtype('u1')",
            pickle.describe(id)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-assembles what Python 2 + numpy 1 write for
    /// `{'data': uint8 array [rows, 3072], 'labels': labels}` with protocol 2: keys and
    /// pixels as SHORT_BINSTRING / BINSTRING, the array via `_reconstruct` + `BUILD`.
    fn python2_batch(rows: u16, dtype: &[u8; 2], labels: &[u8], raw: &[u8]) -> Vec<u8> {
        let mut p = b"\x80\x02}q\x01(U\x04dataq\x02".to_vec();
        p.extend(b"cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04K\x00\x85U\x01b\x87R");
        // state: (1, (rows, 3072), dtype('u1'), False, raw)
        p.extend(b"(K\x01M");
        p.extend(rows.to_le_bytes());
        p.extend(b"M\x00\x0c\x86cnumpy\ndtype\nU\x02");
        p.extend(dtype);
        p.extend(b"K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T");
        p.extend(u32::try_from(raw.len()).unwrap().to_le_bytes());
        p.extend(raw);
        p.extend(b"tbU\x06labels](");
        for &l in labels {
            p.extend([b'K', l]);
        }
        p.extend(b"eu.");
        p
    }

    fn read(bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data_batch_1");
        fs::write(&path, bytes).unwrap();
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        read_batch(&path, &mut pixels, &mut labels)?;
        Ok((pixels, labels))
    }

    #[test]
    fn reads_a_python2_numpy1_batch() {
        let raw: Vec<u8> = (0..2 * IMAGE_BYTES).map(|i| (i % 251) as u8).collect();
        let (pixels, labels) = read(&python2_batch(2, b"u1", &[3, 9], &raw)).unwrap();
        assert_eq!(labels, [3, 9]);
        assert_eq!(pixels, raw);
    }

    #[test]
    fn rejects_wrong_shapes_dtypes_and_labels() {
        let raw = vec![0; IMAGE_BYTES];
        let err = read(&python2_batch(2, b"u1", &[1], &raw)).unwrap_err().to_string();
        assert!(err.contains("shape [2, 3072] but 3072 bytes"), "{err}");
        let err = read(&python2_batch(1, b"u1", &[1, 2], &raw)).unwrap_err().to_string();
        assert!(err.contains("1 images but 'labels' has 2"), "{err}");
        let err = read(&python2_batch(1, b"u1", &[12], &raw)).unwrap_err().to_string();
        assert!(err.contains("record 0 has label 12"), "{err}");

        let err = read(&python2_batch(1, b"i2", &[1], &raw)).unwrap_err().to_string();
        assert!(err.contains("dtype 'i2'"), "{err}");

        let err = read(b"\x80\x02]q\x00.").unwrap_err().to_string();
        assert!(err.contains("a list of 0, expected a dict"), "{err}");
        let err = read(b"\x80\x02}q\x00.").unwrap_err().to_string();
        assert!(err.contains("no 'data' entry"), "{err}");
    }

    #[test]
    fn every_truncation_of_the_meta_fixture_fails_cleanly() {
        // Read at run time: clones sharing a target directory share compiled
        // tests, and the path baked in at compile time may be another clone's.
        let fixture = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(
                || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                std::path::PathBuf::from,
            )
            .join("tests/data/python-layout/batches.meta.pickle");
        let bytes = fs::read(&fixture).unwrap();
        assert_eq!(read_class_names(&fixture).unwrap()[9], "truck");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batches.meta");
        for end in 0..bytes.len() {
            fs::write(&path, &bytes[..end]).unwrap();
            let err = read_class_names(&path).unwrap_err().to_string();
            assert!(err.contains("batches.meta"), "{end}: {err}");
        }
    }
}
