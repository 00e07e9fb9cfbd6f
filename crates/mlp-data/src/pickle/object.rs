//! What a pickle loads to: an arena of [`Object`]s and the one the pickle
//! evaluates to, with the accessors its readers use.

use std::borrow::Cow;

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
    pub(super) objects: Vec<Object<'a>>,
    pub(super) root: Id,
}

impl<'a> Pickle<'a> {
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
