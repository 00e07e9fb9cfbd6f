//! Reading the machine's input: lengths checked against the bytes left
//! before anything is taken, and the decoding of opcode arguments. It knows
//! nothing of the machine that reads it.

use super::object::Id;

/// The pickle's bytes and how far the machine has read them.
pub(super) struct Input<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Input<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Input { bytes, pos: 0 }
    }

    /// The next byte, if any, without taking it.
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Fails unless `len` more bytes exist.
    pub(super) fn check_len(&self, len: u64) -> Result<usize, String> {
        let left = self.bytes.len() - self.pos;
        match usize::try_from(len) {
            Ok(n) if n <= left => Ok(n),
            _ => Err(format!("length {len} is more than the {left} bytes left (truncated?)")),
        }
    }

    pub(super) fn take(&mut self, len: u64) -> Result<&'a [u8], String> {
        let n = self.check_len(len)?;
        let bytes = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N as u64)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(super) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// The bytes up to the next newline (not included), for the text opcodes.
    pub(super) fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a text argument has no terminating newline (truncated?)")?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }
}

/// Pairs up `[k0, v0, k1, v1, ...]`.
pub(super) fn pairs(items: Vec<Id>) -> Result<Vec<(Id, Id)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("{} items cannot form key/value pairs", items.len()));
    }
    Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}

/// Decodes LONG1's little-endian two's-complement integer (at most 64 bits here).
pub(super) fn little_endian_signed(bytes: &[u8]) -> Result<i64, String> {
    if bytes.len() > 8 {
        return Err(format!("a {}-byte integer is too large", bytes.len()));
    }
    let Some(&last) = bytes.last() else {
        return Ok(0);
    };
    // Sign-extend from the top byte.
    let mut buf = if last & 0x80 != 0 { [0xff; 8] } else { [0; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Ok(i64::from_le_bytes(buf))
}

pub(super) fn parse_decimal(line: &[u8]) -> Result<i64, String> {
    utf8(line)?
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not an integer", String::from_utf8_lossy(line)))
}

pub(super) fn parse_memo_key(line: &[u8]) -> Result<u64, String> {
    let key = parse_decimal(line)?;
    u64::try_from(key).map_err(|_| format!("negative memo key {key}"))
}

pub(super) fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 text: {e}"))
}

pub(super) fn is_latin1(encoding: &str) -> bool {
    matches!(
        encoding.to_ascii_lowercase().as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
    )
}

/// `str.encode('latin1')`: every character must be below U+0100.
pub(super) fn latin1_encode(text: &str) -> Result<Vec<u8>, String> {
    text.chars()
        .map(|c| u8::try_from(c).map_err(|_| format!("character {c:?} is not latin-1")))
        .collect()
}
