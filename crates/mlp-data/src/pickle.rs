//! A small, safe pickle reader: just enough of the pickle virtual machine to load the
//! CIFAR-10 Python batches (protocols 2 to 5, written by Python 2 or 3, numpy 1 or 2).
//!
//! Nothing is executed: `GLOBAL` only records a module and a name, and `REDUCE` /
//! `NEWOBJ` record a call for the caller to recognise, with two exceptions evaluated on
//! the spot because Python 3 writes `bytes` that way in protocol 2:
//! `_codecs.encode(str, 'latin1')` and `bytes()`.
//!
//! Objects live in an arena and are referred to by index, so that the memo and the
//! stack can share an object (a list appended to after being memoised, a 30 MB byte
//! string fetched from the memo) without copying it and without reference counting.
//! Byte and text payloads borrow from the input. Every length field is checked against
//! the bytes left before use, so a lying length cannot make the reader allocate.

use std::borrow::Cow;
use std::collections::HashMap;

/// Index of an object in [`Pickle::objects`].
pub(crate) type Id = usize;

/// A decoded pickle object.
#[derive(Debug)]
pub(crate) enum Object<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Python 3 `bytes`/`bytearray`, and Python 2 `str` (`SHORT_BINSTRING`/`BINSTRING`),
    /// which is what the official CIFAR-10 files store their keys and pixels as.
    Bytes(Cow<'a, [u8]>),
    Str(Cow<'a, str>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    /// Key/value pairs in insertion order.
    Dict(Vec<(Id, Id)>),
    /// A reference to `module.name`, never resolved.
    Global {
        module: String,
        name: String,
    },
    /// `func(*args)` from `REDUCE` or `NEWOBJ`, with the state a later `BUILD` gave it.
    Call {
        func: Id,
        args: Id,
        state: Option<Id>,
    },
}

/// A loaded pickle: the arena of objects and the one the pickle evaluates to.
pub(crate) struct Pickle<'a> {
    objects: Vec<Object<'a>>,
    root: Id,
}

impl<'a> Pickle<'a> {
    /// Runs the pickle in `input` up to its `STOP`. The error is a reason (with the byte
    /// offset); the caller adds the file name.
    pub(crate) fn parse(input: &'a [u8]) -> Result<Self, String> {
        Machine::new(input).run()
    }

    pub(crate) fn root(&self) -> Id {
        self.root
    }

    pub(crate) fn get(&self, id: Id) -> &Object<'a> {
        &self.objects[id]
    }

    /// The value of `dict` under `key`, whether the key was pickled as text (Python 3) or
    /// as bytes (Python 2 `str`, or Python 3 `bytes`). `None` if `dict` is no dict.
    pub(crate) fn dict_get(&self, dict: Id, key: &str) -> Option<Id> {
        let Object::Dict(items) = self.get(dict) else {
            return None;
        };
        items
            .iter()
            .find(|&&(k, _)| self.text(k).is_some_and(|text| text == key.as_bytes()))
            .map(|&(_, v)| v)
    }

    /// The bytes of a `Str` (UTF-8) or `Bytes` object.
    pub(crate) fn text(&self, id: Id) -> Option<&[u8]> {
        match self.get(id) {
            Object::Str(s) => Some(s.as_bytes()),
            Object::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub(crate) fn items(&self, id: Id) -> Option<&[Id]> {
        match self.get(id) {
            Object::List(items) | Object::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// An integer (`bool` counts, as in Python).
    pub(crate) fn int(&self, id: Id) -> Option<i64> {
        match self.get(id) {
            Object::Int(i) => Some(*i),
            Object::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A short description of an object's type, for error messages.
    pub(crate) fn describe(&self, id: Id) -> String {
        match self.get(id) {
            Object::None => "None".into(),
            Object::Bool(_) => "a bool".into(),
            Object::Int(i) => format!("the integer {i}"),
            Object::Float(f) => format!("the float {f}"),
            Object::Bytes(b) => format!("{} bytes", b.len()),
            Object::Str(s) => format!("a {}-byte string", s.len()),
            Object::List(v) => format!("a list of {}", v.len()),
            Object::Tuple(v) => format!("a tuple of {}", v.len()),
            Object::Dict(v) => format!("a dict of {}", v.len()),
            Object::Global { module, name } => format!("the global {module}.{name}"),
            Object::Call { func, .. } => match self.get(*func) {
                Object::Global { module, name } => format!("a {module}.{name} object"),
                _ => "an object".into(),
            },
        }
    }
}

/// The highest pickle protocol this reader knows (Python 3.8+ writes 5).
const MAX_PROTOCOL: u8 = 5;

/// The state of the pickle virtual machine.
struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    objects: Vec<Object<'a>>,
    stack: Vec<Id>,
    /// Stack heights at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

impl<'a> Machine<'a> {
    fn new(input: &'a [u8]) -> Self {
        Machine {
            input,
            pos: 0,
            objects: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn run(mut self) -> Result<Pickle<'a>, String> {
        loop {
            let at = self.pos;
            let Some(&opcode) = self.input.get(at) else {
                return Err(format!("the data ends at byte {at} without a STOP opcode (truncated?)"));
            };
            self.pos += 1;
            match self.step(opcode) {
                Ok(Some(root)) => {
                    return Ok(Pickle {
                        objects: self.objects,
                        root,
                    });
                }
                Ok(None) => {}
                Err(reason) => return Err(format!("opcode 0x{opcode:02x} at byte {at}: {reason}")),
            }
        }
    }

    /// Executes one opcode; returns the result once `STOP` is reached.
    fn step(&mut self, opcode: u8) -> Result<Option<Id>, String> {
        match opcode {
            // PROTO
            0x80 => {
                let protocol = self.u8()?;
                if protocol > MAX_PROTOCOL {
                    return Err(format!("pickle protocol {protocol} is newer than {MAX_PROTOCOL}"));
                }
            }
            // FRAME: only a hint for buffered readers; its length must still be honest.
            0x95 => {
                let len = self.u64()?;
                self.check_len(len)?;
            }
            // STOP
            b'.' => return self.pop().map(Some),
            // MARK
            b'(' => self.marks.push(self.stack.len()),
            // POP
            b'0' => {
                self.pop()?;
            }
            // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
            b'}' => self.push(Object::Dict(Vec::new())),
            b']' => self.push(Object::List(Vec::new())),
            b')' => self.push(Object::Tuple(Vec::new())),
            // DICT, LIST, TUPLE: build from everything above the last mark.
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push(Object::Dict(pairs));
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Object::List(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Object::Tuple(items));
            }
            // TUPLE1, TUPLE2, TUPLE3
            0x85..=0x87 => {
                let n = usize::from(opcode - 0x84);
                if self.stack.len() < self.floor() + n {
                    return Err(format!("TUPLE{n} needs {n} stack items"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Object::Tuple(items));
            }
            // APPEND, APPENDS
            b'a' => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            // SETITEM, SETITEMS
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.extend_dict(vec![(key, value)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.extend_dict(pairs)?;
            }
            // Integers: BININT, BININT1, BININT2, LONG1, INT, LONG.
            b'J' => {
                let v = i32::from_le_bytes(self.array()?);
                self.push(Object::Int(i64::from(v)));
            }
            b'K' => {
                let v = self.u8()?;
                self.push(Object::Int(i64::from(v)));
            }
            b'M' => {
                let v = u16::from_le_bytes(self.array()?);
                self.push(Object::Int(i64::from(v)));
            }
            0x8a => {
                let n = usize::from(self.u8()?);
                let bytes = self.take(n as u64)?;
                self.push(Object::Int(little_endian_signed(bytes)?));
            }
            b'I' => {
                let line = self.line()?;
                // Protocol 0 spells the booleans as INT 01 / INT 00.
                let object = match line {
                    b"01" => Object::Bool(true),
                    b"00" => Object::Bool(false),
                    _ => Object::Int(parse_decimal(line)?),
                };
                self.push(object);
            }
            b'L' => {
                let line = self.line()?;
                let digits = line.strip_suffix(b"L").unwrap_or(line);
                self.push(Object::Int(parse_decimal(digits)?));
            }
            // NONE, NEWTRUE, NEWFALSE, BINFLOAT
            b'N' => self.push(Object::None),
            0x88 => self.push(Object::Bool(true)),
            0x89 => self.push(Object::Bool(false)),
            b'G' => {
                let v = f64::from_be_bytes(self.array()?);
                self.push(Object::Float(v));
            }
            // Byte strings: SHORT_BINSTRING, BINSTRING (Python 2 str), SHORT_BINBYTES,
            // BINBYTES, BINBYTES8, BYTEARRAY8.
            b'U' | b'C' => {
                let n = self.u8()?;
                self.push_bytes(u64::from(n))?;
            }
            b'T' => {
                let n = i32::from_le_bytes(self.array()?);
                let n = u64::try_from(n).map_err(|_| format!("negative string length {n}"))?;
                self.push_bytes(n)?;
            }
            b'B' => {
                let n = u32::from_le_bytes(self.array()?);
                self.push_bytes(u64::from(n))?;
            }
            0x8e | 0x96 => {
                let n = self.u64()?;
                self.push_bytes(n)?;
            }
            // Text: SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 (all UTF-8).
            0x8c => {
                let n = self.u8()?;
                self.push_text(u64::from(n))?;
            }
            b'X' => {
                let n = u32::from_le_bytes(self.array()?);
                self.push_text(u64::from(n))?;
            }
            0x8d => {
                let n = self.u64()?;
                self.push_text(n)?;
            }
            // Memo stores: BINPUT, LONG_BINPUT, PUT, MEMOIZE.
            b'q' => {
                let key = self.u8()?;
                self.memo_put(u64::from(key))?;
            }
            b'r' => {
                let key = u32::from_le_bytes(self.array()?);
                self.memo_put(u64::from(key))?;
            }
            b'p' => {
                let line = self.line()?;
                let key = parse_memo_key(line)?;
                self.memo_put(key)?;
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            // Memo loads: BINGET, LONG_BINGET, GET.
            b'h' => {
                let key = self.u8()?;
                self.memo_get(u64::from(key))?;
            }
            b'j' => {
                let key = u32::from_le_bytes(self.array()?);
                self.memo_get(u64::from(key))?;
            }
            b'g' => {
                let line = self.line()?;
                let key = parse_memo_key(line)?;
                self.memo_get(key)?;
            }
            // GLOBAL: "module\nname\n".
            b'c' => {
                let module = utf8(self.line()?)?.to_owned();
                let name = utf8(self.line()?)?.to_owned();
                self.push(Object::Global { module, name });
            }
            // STACK_GLOBAL: module and name come from the stack.
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Object::Str(module), Object::Str(name)) = (&self.objects[module], &self.objects[name]) else {
                    return Err("STACK_GLOBAL needs two strings".into());
                };
                let global = Object::Global {
                    module: module.to_string(),
                    name: name.to_string(),
                };
                self.push(global);
            }
            // REDUCE: func(*args).
            b'R' => {
                let args = self.pop()?;
                let func = self.pop()?;
                let object = self.reduce(func, args)?;
                self.push(object);
            }
            // NEWOBJ: cls.__new__(cls, *args).
            0x81 => {
                let args = self.pop()?;
                let func = self.pop()?;
                if !matches!(self.objects[args], Object::Tuple(_)) {
                    return Err("NEWOBJ arguments are not a tuple".into());
                }
                self.push(Object::Call {
                    func,
                    args,
                    state: None,
                });
            }
            // BUILD: obj.__setstate__(state).
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                match &mut self.objects[target] {
                    Object::Call { state: slot, .. } => *slot = Some(state),
                    _ => return Err("BUILD on something that is not an object".into()),
                }
            }
            _ => return Err("unknown or unsupported opcode".into()),
        }
        Ok(None)
    }

    /// Evaluates the two calls Python 3 uses to pickle `bytes` in protocol 2, and records
    /// any other call for the caller to interpret.
    fn reduce(&self, func: Id, args: Id) -> Result<Object<'a>, String> {
        let Object::Tuple(arg_ids) = &self.objects[args] else {
            return Err("REDUCE arguments are not a tuple".into());
        };
        if let Object::Global { module, name } = &self.objects[func] {
            let builtins = module == "__builtin__" || module == "builtins";
            match (module.as_str(), name.as_str(), arg_ids.as_slice()) {
                ("_codecs", "encode", &[text, encoding]) => {
                    return match (&self.objects[text], &self.objects[encoding]) {
                        (Object::Str(text), Object::Str(enc)) if is_latin1(enc) => {
                            latin1_encode(text).map(|b| Object::Bytes(Cow::Owned(b)))
                        }
                        _ => Err("_codecs.encode is only supported as encode(str, 'latin1')".into()),
                    };
                }
                (_, "bytes" | "bytearray", &[]) if builtins => {
                    return Ok(Object::Bytes(Cow::Borrowed(&[])));
                }
                _ => {}
            }
        }
        Ok(Object::Call {
            func,
            args,
            state: None,
        })
    }

    fn push(&mut self, object: Object<'a>) {
        self.objects.push(object);
        self.stack.push(self.objects.len() - 1);
    }

    /// Height of the stack below which the current collection may not reach: everything
    /// under the last open `MARK` belongs to an enclosing collection.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn top(&self) -> Result<Id, String> {
        match self.stack.last() {
            Some(&id) if self.stack.len() > self.floor() => Ok(id),
            Some(_) => Err("reaches past an open MARK".into()),
            None => Err("needs an item on an empty stack".into()),
        }
    }

    fn pop(&mut self) -> Result<Id, String> {
        let id = self.top()?;
        self.stack.pop();
        Ok(id)
    }

    /// Pops everything above the last mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Id>, String> {
        let mark = self.marks.pop().ok_or("no MARK to close")?;
        Ok(self.stack.split_off(mark))
    }

    fn extend_list(&mut self, items: Vec<Id>) -> Result<(), String> {
        let target = self.top()?;
        match &mut self.objects[target] {
            Object::List(list) => {
                list.extend(items);
                Ok(())
            }
            _ => Err("APPEND to something that is not a list".into()),
        }
    }

    fn extend_dict(&mut self, items: Vec<(Id, Id)>) -> Result<(), String> {
        let target = self.top()?;
        match &mut self.objects[target] {
            Object::Dict(dict) => {
                dict.extend(items);
                Ok(())
            }
            _ => Err("SETITEM on something that is not a dict".into()),
        }
    }

    fn memo_put(&mut self, key: u64) -> Result<(), String> {
        let top = self.top()?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), String> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| format!("memo entry {key} was never stored"))?;
        self.stack.push(id);
        Ok(())
    }

    fn push_bytes(&mut self, len: u64) -> Result<(), String> {
        let bytes = self.take(len)?;
        self.push(Object::Bytes(Cow::Borrowed(bytes)));
        Ok(())
    }

    fn push_text(&mut self, len: u64) -> Result<(), String> {
        let text = utf8(self.take(len)?)?;
        self.push(Object::Str(Cow::Borrowed(text)));
        Ok(())
    }

    /// Fails unless `len` more bytes exist.
    fn check_len(&self, len: u64) -> Result<usize, String> {
        let left = self.input.len() - self.pos;
        match usize::try_from(len) {
            Ok(n) if n <= left => Ok(n),
            _ => Err(format!("length {len} is more than the {left} bytes left (truncated?)")),
        }
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], String> {
        let n = self.check_len(len)?;
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N as u64)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// The bytes up to the next newline (not included), for the text opcodes.
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.input[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a text argument has no terminating newline (truncated?)")?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }
}

/// Pairs up `[k0, v0, k1, v1, ...]`.
fn pairs(items: Vec<Id>) -> Result<Vec<(Id, Id)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!("{} items cannot form key/value pairs", items.len()));
    }
    Ok(items.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect())
}

/// Decodes LONG1's little-endian two's-complement integer (at most 64 bits here).
fn little_endian_signed(bytes: &[u8]) -> Result<i64, String> {
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

fn parse_decimal(line: &[u8]) -> Result<i64, String> {
    utf8(line)?
        .trim()
        .parse()
        .map_err(|_| format!("'{}' is not an integer", String::from_utf8_lossy(line)))
}

fn parse_memo_key(line: &[u8]) -> Result<u64, String> {
    let key = parse_decimal(line)?;
    u64::try_from(key).map_err(|_| format!("negative memo key {key}"))
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8 text: {e}"))
}

fn is_latin1(encoding: &str) -> bool {
    matches!(
        encoding.to_ascii_lowercase().as_str(),
        "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
    )
}

/// `str.encode('latin1')`: every character must be below U+0100.
fn latin1_encode(text: &str) -> Result<Vec<u8>, String> {
    text.chars()
        .map(|c| u8::try_from(c).map_err(|_| format!("character {c:?} is not latin-1")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Pickle<'_>, String> {
        Pickle::parse(bytes)
    }

    #[test]
    fn python2_style_dict_with_binstring_keys() {
        // {'a': [1, -2, 300], 'b': 'xyz'} as Python 2 pickles it with protocol 2.
        let bytes = b"\x80\x02}q\x00(U\x01aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM\x2c\x01eU\x01bT\x03\x00\x00\x00xyzu.";
        let p = parse(bytes).unwrap();
        let a = p.dict_get(p.root(), "a").unwrap();
        let values: Vec<i64> = p.items(a).unwrap().iter().map(|&i| p.int(i).unwrap()).collect();
        assert_eq!(values, [1, -2, 300]);
        assert_eq!(p.text(p.dict_get(p.root(), "b").unwrap()).unwrap(), b"xyz");
        assert!(p.dict_get(p.root(), "c").is_none());
    }

    #[test]
    fn codecs_encode_gives_latin1_bytes() {
        // _codecs.encode('\u00ff\u0080A', 'latin1'), as Python 3 protocol 2 writes bytes.
        let bytes = b"\x80\x02c_codecs\nencode\nX\x05\x00\x00\x00\xc3\xbf\xc2\x80AX\x06\x00\x00\x00latin1\x86R.";
        let p = parse(bytes).unwrap();
        assert_eq!(p.text(p.root()).unwrap(), [0xff, 0x80, b'A']);
    }

    #[test]
    fn long1_and_memo() {
        // LONG1 -129 (0x7fff... two bytes 0x7f 0xff), memoised and fetched twice into a tuple.
        let bytes = b"\x80\x02\x8a\x02\x7f\xff\x94h\x00\x86.";
        let p = parse(bytes).unwrap();
        let items = p.items(p.root()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(p.int(items[0]), Some(-129));
        assert_eq!(items[0], items[1]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "without a STOP"),
            (b"\x80\x02}", "without a STOP"),
            (b"\x80\x09.", "protocol 9"),
            (b"\xff", "unknown"),
            (b"B\xff\xff\xff\xff", "more than the 0 bytes left"),
            (b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff", "more than"),
            (b"\x95\x00\x00\x00\x00\x00\x00\x01\x00.", "more than"),
            (b".", "empty stack"),
            (b"(K\x01\x86", "TUPLE2 needs 2"),
            (b"e", "no MARK"),
            (b"K\x01(.", "open MARK"),
            (b"h\x05", "memo entry 5"),
            (b"K\x01K\x02a", "not a list"),
            (b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00", "too large"),
            (b"cnumpy", "no terminating newline"),
            (b"X\x02\x00\x00\x00\xff\xfe.", "UTF-8"),
            (b"K\x01K\x02R", "not a tuple"),
            (b"K\x01K\x02b", "not an object"),
            (b"(K\x01d.", "key/value"),
        ];
        for (bytes, expected) in cases {
            match parse(bytes) {
                Ok(_) => panic!("{bytes:?} parsed"),
                Err(reason) => assert!(reason.contains(expected), "{bytes:?}: {reason}"),
            }
        }
    }

    #[test]
    fn every_prefix_of_a_valid_pickle_fails_cleanly() {
        let bytes = b"\x80\x02}q\x00(U\x01aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM\x2c\x01eU\x01bT\x03\x00\x00\x00xyzu.";
        for end in 0..bytes.len() {
            assert!(parse(&bytes[..end]).is_err(), "prefix of {end} bytes parsed");
        }
    }
}
