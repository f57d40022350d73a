//! Builders of BSON documents and wire messages for the tests, and BSON/JSON unit tests.

use super::super::bson::{decimal128, Doc, Json};

/// A BSON value to encode.
#[derive(Clone, Debug)]
pub enum B {
    F64(f64),
    Str(&'static str),
    S(String),
    Doc(Vec<u8>),
    Arr(Vec<u8>),
    Bin(u8, Vec<u8>),
    Oid([u8; 12]),
    Bool(bool),
    Date(i64),
    Null,
    Regex(&'static str, &'static str),
    I32(i32),
    Ts(u32, u32),
    I64(i64),
    Dec([u8; 16]),
    Min,
    Max,
    Undef,
    Code(&'static str),
}

fn bstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i32 + 1).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// Encode a document.
pub fn doc(elems: &[(&str, B)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in elems {
        let t: u8 = match v {
            B::F64(_) => 1,
            B::Str(_) | B::S(_) => 2,
            B::Doc(_) => 3,
            B::Arr(_) => 4,
            B::Bin(..) => 5,
            B::Undef => 6,
            B::Oid(_) => 7,
            B::Bool(_) => 8,
            B::Date(_) => 9,
            B::Null => 10,
            B::Regex(..) => 11,
            B::Code(_) => 13,
            B::I32(_) => 0x10,
            B::Ts(..) => 0x11,
            B::I64(_) => 0x12,
            B::Dec(_) => 0x13,
            B::Min => 0xFF,
            B::Max => 0x7F,
        };
        body.push(t);
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        match v {
            B::F64(f) => body.extend_from_slice(&f.to_le_bytes()),
            B::Str(s) => bstr(&mut body, s),
            B::S(s) => bstr(&mut body, s),
            B::Code(s) => bstr(&mut body, s),
            B::Doc(d) | B::Arr(d) => body.extend_from_slice(d),
            B::Bin(sub, b) => {
                body.extend_from_slice(&(b.len() as i32).to_le_bytes());
                body.push(*sub);
                body.extend_from_slice(b);
            }
            B::Oid(o) => body.extend_from_slice(o),
            B::Bool(b) => body.push(u8::from(*b)),
            B::Date(d) | B::I64(d) => body.extend_from_slice(&d.to_le_bytes()),
            B::Regex(p, o) => {
                body.extend_from_slice(p.as_bytes());
                body.push(0);
                body.extend_from_slice(o.as_bytes());
                body.push(0);
            }
            B::I32(i) => body.extend_from_slice(&i.to_le_bytes()),
            B::Ts(i, t) => {
                body.extend_from_slice(&i.to_le_bytes());
                body.extend_from_slice(&t.to_le_bytes());
            }
            B::Dec(d) => body.extend_from_slice(d),
            B::Null | B::Min | B::Max | B::Undef => {}
        }
    }
    let mut out = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.push(0);
    out
}

/// Encode an array of documents.
pub fn arr(items: &[Vec<u8>]) -> Vec<u8> {
    let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
    let mut body = Vec::new();
    for (k, d) in keys.iter().zip(items) {
        body.push(3);
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(d);
    }
    let mut out = ((body.len() + 5) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.push(0);
    out
}

/// A whole message from its header fields and body.
pub fn msg(req: i32, resp_to: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 16) as i32).to_le_bytes().to_vec();
    out.extend_from_slice(&req.to_le_bytes());
    out.extend_from_slice(&resp_to.to_le_bytes());
    out.extend_from_slice(&op.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// OP_MSG body: flags, a body section and document sequences.
pub fn op_msg_body(flags: u32, body: &[u8], seqs: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
    let mut out = flags.to_le_bytes().to_vec();
    out.push(0);
    out.extend_from_slice(body);
    for (id, docs) in seqs {
        let size: usize = 4 + id.len() + 1 + docs.iter().map(Vec::len).sum::<usize>();
        out.push(1);
        out.extend_from_slice(&(size as i32).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        out.push(0);
        for d in docs {
            out.extend_from_slice(d);
        }
    }
    out
}

/// OP_MSG.
pub fn op_msg(req: i32, resp_to: i32, flags: u32, body: &[u8]) -> Vec<u8> {
    msg(req, resp_to, 2013, &op_msg_body(flags, body, &[]))
}

/// OP_MSG with a trailing CRC-32C (`good` = correct checksum).
pub fn op_msg_checksum(req: i32, body: &[u8], good: bool) -> Vec<u8> {
    let mut b = op_msg_body(1, body, &[]);
    b.extend_from_slice(&[0; 4]);
    let mut m = msg(req, 0, 2013, &b);
    let n = m.len();
    let mut crc = crc32c_ref(&m[..n - 4]);
    if !good {
        crc ^= 1;
    }
    m[n - 4..].copy_from_slice(&crc.to_le_bytes());
    m
}

fn crc32c_ref(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// OP_QUERY.
pub fn op_query(
    req: i32,
    coll: &str,
    skip: i32,
    ret: i32,
    q: &[u8],
    sel: Option<&[u8]>,
) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(coll.as_bytes());
    b.push(0);
    b.extend_from_slice(&skip.to_le_bytes());
    b.extend_from_slice(&ret.to_le_bytes());
    b.extend_from_slice(q);
    if let Some(s) = sel {
        b.extend_from_slice(s);
    }
    msg(req, 0, 2004, &b)
}

/// OP_REPLY.
pub fn op_reply(req: i32, resp_to: i32, flags: i32, cursor: i64, docs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = flags.to_le_bytes().to_vec();
    b.extend_from_slice(&cursor.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&(docs.len() as i32).to_le_bytes());
    for d in docs {
        b.extend_from_slice(d);
    }
    msg(req, resp_to, 1, &b)
}

/// A legacy write: `zero, coll, flags, docs...` (OP_UPDATE/OP_DELETE) or `flags, coll, docs`
/// (OP_INSERT).
pub fn op_legacy(req: i32, op: i32, coll: &str, docs: &[Vec<u8>]) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(coll.as_bytes());
    b.push(0);
    if op != 2002 {
        b.extend_from_slice(&0i32.to_le_bytes());
    }
    for d in docs {
        b.extend_from_slice(d);
    }
    msg(req, 0, op, &b)
}

/// OP_GET_MORE.
pub fn op_get_more(req: i32, coll: &str, n: i32, cursor: i64) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(coll.as_bytes());
    b.push(0);
    b.extend_from_slice(&n.to_le_bytes());
    b.extend_from_slice(&cursor.to_le_bytes());
    msg(req, 0, 2005, &b)
}

/// OP_KILL_CURSORS.
pub fn op_kill_cursors(req: i32, cursors: &[i64]) -> Vec<u8> {
    let mut b = 0i32.to_le_bytes().to_vec();
    b.extend_from_slice(&(cursors.len() as i32).to_le_bytes());
    for c in cursors {
        b.extend_from_slice(&c.to_le_bytes());
    }
    msg(req, 0, 2007, &b)
}

/// OP_COMPRESSED wrapping `inner` (a whole message) with compressor `cid`.
pub fn op_compressed(inner: &[u8], cid: u8) -> Vec<u8> {
    let req = i32::from_le_bytes(inner[4..8].try_into().unwrap());
    let resp_to = i32::from_le_bytes(inner[8..12].try_into().unwrap());
    let op = i32::from_le_bytes(inner[12..16].try_into().unwrap());
    let body = &inner[16..];
    let data = match cid {
        1 => snap::raw::Encoder::new().compress_vec(body).unwrap(),
        2 => {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        _ => body.to_vec(),
    };
    let mut b = op.to_le_bytes().to_vec();
    b.extend_from_slice(&(body.len() as i32).to_le_bytes());
    b.push(cid);
    b.extend_from_slice(&data);
    msg(req, resp_to, 2012, &b)
}

fn json_of(d: &[u8]) -> String {
    let (doc, _) = Doc::parse(d).unwrap();
    let mut j = Json::new(0, 1 << 20);
    j.doc(&doc);
    j.finish(" ...")
}

#[test]
fn bson_every_type_renders_as_valid_json() {
    let inner = doc(&[("a", B::I32(1))]);
    let d = doc(&[
        ("f", B::F64(1.5)),
        ("fi", B::F64(2.0)),
        ("nan", B::F64(f64::NAN)),
        ("s", B::Str("x\"y\n")),
        ("d", B::Doc(inner.clone())),
        ("a", B::Arr(arr(&[inner.clone(), inner]))),
        ("bin", B::Bin(4, vec![1, 2, 3])),
        ("oid", B::Oid([0xab; 12])),
        ("t", B::Bool(true)),
        ("date", B::Date(1_700_000_000_000)),
        ("n", B::Null),
        ("re", B::Regex("^a", "i")),
        ("code", B::Code("x=1")),
        ("i", B::I32(-7)),
        ("ts", B::Ts(3, 4)),
        ("l", B::I64(1 << 40)),
        (
            "dec",
            B::Dec({
                let mut b = [0u8; 16];
                b[0] = 15; // coefficient 15
                b[14] = 0x3E; // exponent bias 6176 - 1 → 1.5
                b[15] = 0x30;
                b
            }),
        ),
        ("min", B::Min),
        ("max", B::Max),
        ("u", B::Undef),
    ]);
    let s = json_of(&d);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert_eq!(v["f"], 1.5);
    assert_eq!(v["fi"], 2.0);
    assert_eq!(v["s"], "x\"y\n");
    assert_eq!(v["d"]["a"], 1);
    assert_eq!(v["a"][1]["a"], 1);
    assert_eq!(v["bin"]["$binary"]["base64"], "AQID");
    assert_eq!(v["oid"]["$oid"], "ab".repeat(12));
    assert_eq!(v["date"]["$date"]["$numberLong"], "1700000000000");
    assert_eq!(v["re"]["$regularExpression"]["pattern"], "^a");
    assert_eq!(v["l"], 1u64 << 40);
    assert_eq!(v["ts"]["$timestamp"]["t"], 4);
    assert_eq!(v["min"]["$minKey"], 1);
    assert_eq!(v["nan"]["$numberDouble"], "NaN");
    assert!(v["dec"]["$numberDecimal"].is_string());
}

#[test]
fn decimal128_text() {
    let mk = |coeff: u128, exp: i32, neg: bool| {
        let e = (exp + 6176) as u128;
        let v = coeff | (e << 113) | if neg { 1u128 << 127 } else { 0 };
        v.to_le_bytes()
    };
    assert_eq!(decimal128(&mk(15, -1, false)), "1.5");
    assert_eq!(decimal128(&mk(123, 0, true)), "-123");
    assert_eq!(decimal128(&mk(5, -3, false)), "0.005");
    assert_eq!(decimal128(&mk(1, 3, false)), "1E+3");
}

#[test]
fn json_truncates_with_marker() {
    let d = doc(&[("k", B::S("v".repeat(100)))]);
    let (doc, _) = Doc::parse(&d).unwrap();
    let mut j = Json::new(20, 1 << 20);
    j.doc(&doc);
    let s = j.finish(" ...");
    assert_eq!(s.len(), 20 + 4);
    assert!(s.ends_with(" ..."));
}

#[test]
fn malformed_and_cut_documents() {
    let mut d = doc(&[("a", B::I32(1)), ("b", B::Str("xyz"))]);
    // Corrupt the string length of "b".
    let n = d.len();
    d[n - 9] = 0x7f;
    let (doc, _) = Doc::parse(&d).unwrap();
    let mut it = doc.iter();
    assert!(it.next().is_some());
    assert!(it.next().is_none());
    assert!(it.malformed());
    assert!(json_of(&d).contains("$malformed"));
    // Cut: declared length longer than the bytes.
    let full = doc_long();
    let (cut, used) = Doc::lenient(&full[..20]).unwrap();
    assert!(cut.cut);
    assert_eq!(used, 20);
    assert!(Doc::parse(&full[..20]).is_none());
    // Too short / zero length.
    assert!(Doc::parse(&[0, 0, 0, 0]).is_none());
    assert!(Doc::parse(&[5, 0, 0, 0, 1]).is_none());
}

fn doc_long() -> Vec<u8> {
    doc(&[("first", B::Str("value")), ("second", B::S("x".repeat(50)))])
}
