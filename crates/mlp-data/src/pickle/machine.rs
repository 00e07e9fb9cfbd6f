//! The pickle virtual machine: a stack, marks and a memo over an arena of
//! [`Object`]s, one opcode at a time. Nothing is executed (see the module
//! above). One match over every opcode the CIFAR-10 batches use (`step`,
//! about 220 lines, the longest function in the workspace on purpose): it is
//! one concept, the opcode table, read best as one table; split up, each
//! opcode's few lines would sit away from the others they pair with (MARK
//! and the opcodes that pop to it, PUT and GET).

use std::borrow::Cow;
use std::collections::HashMap;

use super::input::{Input, is_latin1, latin1_encode, little_endian_signed, pairs, parse_decimal, parse_memo_key, utf8};
use super::object::{Id, Object, Pickle};
use super::opcodes as op;

/// The highest pickle protocol this reader knows (Python 3.8+ writes 5).
const MAX_PROTOCOL: u8 = 5;

/// The state of the pickle virtual machine.
pub(super) struct Machine<'a> {
    input: Input<'a>,
    objects: Vec<Object<'a>>,
    stack: Vec<Id>,
    /// Stack heights at each open `MARK`.
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
}

impl<'a> Machine<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Machine {
            input: Input::new(input),
            objects: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Pickle<'a>, String> {
        loop {
            let at = self.input.pos;
            let Some(opcode) = self.input.peek() else {
                return Err(format!("the data ends at byte {at} without a STOP opcode (truncated?)"));
            };
            self.input.pos += 1;
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
            op::PROTO => {
                let protocol = self.input.u8()?;
                if protocol > MAX_PROTOCOL {
                    return Err(format!("pickle protocol {protocol} is newer than {MAX_PROTOCOL}"));
                }
            }
            // FRAME: only a hint for buffered readers; its length must still be honest.
            op::FRAME => {
                let len = self.input.u64()?;
                self.input.check_len(len)?;
            }
            // STOP
            op::STOP => return self.pop().map(Some),
            // MARK
            op::MARK => self.marks.push(self.stack.len()),
            // POP
            op::POP => {
                self.pop()?;
            }
            // EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
            op::EMPTY_DICT => self.push(Object::Dict(Vec::new())),
            op::EMPTY_LIST => self.push(Object::List(Vec::new())),
            op::EMPTY_TUPLE => self.push(Object::Tuple(Vec::new())),
            // DICT, LIST, TUPLE: build from everything above the last mark.
            op::DICT => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push(Object::Dict(pairs));
            }
            op::LIST => {
                let items = self.pop_mark()?;
                self.push(Object::List(items));
            }
            op::TUPLE => {
                let items = self.pop_mark()?;
                self.push(Object::Tuple(items));
            }
            // TUPLE1, TUPLE2, TUPLE3
            op::TUPLE1..=op::TUPLE3 => {
                let n = usize::from(opcode - op::TUPLE1 + 1);
                if self.stack.len() < self.floor() + n {
                    return Err(format!("TUPLE{n} needs {n} stack items"));
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Object::Tuple(items));
            }
            // APPEND, APPENDS
            op::APPEND => {
                let item = self.pop()?;
                self.extend_list(vec![item])?;
            }
            op::APPENDS => {
                let items = self.pop_mark()?;
                self.extend_list(items)?;
            }
            // SETITEM, SETITEMS
            op::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.extend_dict(vec![(key, value)])?;
            }
            op::SETITEMS => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.extend_dict(pairs)?;
            }
            // Integers: BININT, BININT1, BININT2, LONG1, INT, LONG.
            op::BININT => {
                let v = i32::from_le_bytes(self.input.array()?);
                self.push(Object::Int(i64::from(v)));
            }
            op::BININT1 => {
                let v = self.input.u8()?;
                self.push(Object::Int(i64::from(v)));
            }
            op::BININT2 => {
                let v = u16::from_le_bytes(self.input.array()?);
                self.push(Object::Int(i64::from(v)));
            }
            op::LONG1 => {
                let n = usize::from(self.input.u8()?);
                let bytes = self.input.take(n as u64)?;
                self.push(Object::Int(little_endian_signed(bytes)?));
            }
            op::INT => {
                let line = self.input.line()?;
                // Protocol 0 spells the booleans as INT 01 / INT 00.
                let object = match line {
                    b"01" => Object::Bool(true),
                    b"00" => Object::Bool(false),
                    _ => Object::Int(parse_decimal(line)?),
                };
                self.push(object);
            }
            op::LONG => {
                let line = self.input.line()?;
                let digits = line.strip_suffix(b"L").unwrap_or(line);
                self.push(Object::Int(parse_decimal(digits)?));
            }
            // NONE, NEWTRUE, NEWFALSE, BINFLOAT
            op::NONE => self.push(Object::None),
            op::NEWTRUE => self.push(Object::Bool(true)),
            op::NEWFALSE => self.push(Object::Bool(false)),
            op::BINFLOAT => {
                let v = f64::from_be_bytes(self.input.array()?);
                self.push(Object::Float(v));
            }
            // Byte strings: SHORT_BINSTRING, BINSTRING (Python 2 str), SHORT_BINBYTES,
            // BINBYTES, BINBYTES8, BYTEARRAY8.
            op::SHORT_BINSTRING | op::SHORT_BINBYTES => {
                let n = self.input.u8()?;
                self.push_bytes(u64::from(n))?;
            }
            op::BINSTRING => {
                let n = i32::from_le_bytes(self.input.array()?);
                let n = u64::try_from(n).map_err(|_| format!("negative string length {n}"))?;
                self.push_bytes(n)?;
            }
            op::BINBYTES => {
                let n = u32::from_le_bytes(self.input.array()?);
                self.push_bytes(u64::from(n))?;
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let n = self.input.u64()?;
                self.push_bytes(n)?;
            }
            // Text: SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 (all UTF-8).
            op::SHORT_BINUNICODE => {
                let n = self.input.u8()?;
                self.push_text(u64::from(n))?;
            }
            op::BINUNICODE => {
                let n = u32::from_le_bytes(self.input.array()?);
                self.push_text(u64::from(n))?;
            }
            op::BINUNICODE8 => {
                let n = self.input.u64()?;
                self.push_text(n)?;
            }
            // Memo stores: BINPUT, LONG_BINPUT, PUT, MEMOIZE.
            op::BINPUT => {
                let key = self.input.u8()?;
                self.memo_put(u64::from(key))?;
            }
            op::LONG_BINPUT => {
                let key = u32::from_le_bytes(self.input.array()?);
                self.memo_put(u64::from(key))?;
            }
            op::PUT => {
                let line = self.input.line()?;
                let key = parse_memo_key(line)?;
                self.memo_put(key)?;
            }
            op::MEMOIZE => {
                let key = self.memo.len() as u64;
                self.memo_put(key)?;
            }
            // Memo loads: BINGET, LONG_BINGET, GET.
            op::BINGET => {
                let key = self.input.u8()?;
                self.memo_get(u64::from(key))?;
            }
            op::LONG_BINGET => {
                let key = u32::from_le_bytes(self.input.array()?);
                self.memo_get(u64::from(key))?;
            }
            op::GET => {
                let line = self.input.line()?;
                let key = parse_memo_key(line)?;
                self.memo_get(key)?;
            }
            // GLOBAL: "module\nname\n".
            op::GLOBAL => {
                let module = utf8(self.input.line()?)?.to_owned();
                let name = utf8(self.input.line()?)?.to_owned();
                self.push(Object::Global { module, name });
            }
            // STACK_GLOBAL: module and name come from the stack.
            op::STACK_GLOBAL => {
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
            op::REDUCE => {
                let args = self.pop()?;
                let func = self.pop()?;
                let object = self.reduce(func, args)?;
                self.push(object);
            }
            // NEWOBJ: cls.__new__(cls, *args).
            op::NEWOBJ => {
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
            op::BUILD => {
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
        let bytes = self.input.take(len)?;
        self.push(Object::Bytes(Cow::Borrowed(bytes)));
        Ok(())
    }

    fn push_text(&mut self, len: u64) -> Result<(), String> {
        let text = utf8(self.input.take(len)?)?;
        self.push(Object::Str(Cow::Borrowed(text)));
        Ok(())
    }
}
