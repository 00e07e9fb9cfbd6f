//! The reader on hand-written pickles, and on broken ones: every malformed
//! input is an error, never a panic.

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
