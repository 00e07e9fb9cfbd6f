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

mod input;
mod machine;
mod object;
mod opcodes;
#[cfg(test)]
mod tests;

pub(crate) use object::{Id, Object, Pickle};

use machine::Machine;

impl<'a> Pickle<'a> {
    /// Runs the pickle in `input` up to its `STOP`. The error is a reason (with the byte
    /// offset); the caller adds the file name.
    pub(crate) fn parse(input: &'a [u8]) -> Result<Self, String> {
        Machine::new(input).run()
    }
}
