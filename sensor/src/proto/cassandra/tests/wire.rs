//! Builders of CQL frames and bodies for the tests.

/// A frame: `version` is the raw byte (0x84 = v4 response).
pub fn frame(version: u8, flags: u8, stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![version, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(op);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A v4 request frame.
pub fn req(stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    frame(0x04, 0, stream, op, body)
}

/// A v4 response frame.
pub fn resp(stream: i16, op: u8, body: &[u8]) -> Vec<u8> {
    frame(0x84, 0, stream, op, body)
}

/// Body builder.
#[derive(Default, Clone)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn new() -> W {
        W(Vec::new())
    }
    pub fn byte(mut self, b: u8) -> W {
        self.0.push(b);
        self
    }
    pub fn short(mut self, v: u16) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn int(mut self, v: i32) -> W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn string(self, s: &str) -> W {
        let mut w = self.short(s.len() as u16);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    pub fn long_string(self, s: &str) -> W {
        let mut w = self.int(s.len() as i32);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    pub fn short_bytes(self, b: &[u8]) -> W {
        let mut w = self.short(b.len() as u16);
        w.0.extend_from_slice(b);
        w
    }
    pub fn bytes(self, b: &[u8]) -> W {
        let mut w = self.int(b.len() as i32);
        w.0.extend_from_slice(b);
        w
    }
    pub fn string_list(self, l: &[&str]) -> W {
        let mut w = self.short(l.len() as u16);
        for s in l {
            w = w.string(s);
        }
        w
    }
    pub fn string_map(self, m: &[(&str, &str)]) -> W {
        let mut w = self.short(m.len() as u16);
        for (k, v) in m {
            w = w.string(k).string(v);
        }
        w
    }
    pub fn raw(mut self, b: &[u8]) -> W {
        self.0.extend_from_slice(b);
        self
    }
    pub fn done(self) -> Vec<u8> {
        self.0
    }
}

/// QUERY body: text, consistency ONE, no flags.
pub fn query_body(q: &str) -> Vec<u8> {
    W::new().long_string(q).short(1).byte(0).done()
}

/// PREPARE body.
pub fn prepare_body(q: &str) -> Vec<u8> {
    W::new().long_string(q).done()
}

/// EXECUTE body: id, consistency, flags 0x01 with one value.
pub fn execute_body(id: &[u8]) -> Vec<u8> {
    W::new()
        .short_bytes(id)
        .short(1)
        .byte(1)
        .short(1)
        .bytes(b"abc")
        .done()
}

/// Rows result with a global table spec, `cols` text columns, `rows` rows of one value each
/// (paging state when `paging` is given).
pub fn rows_body(cols: usize, rows: usize, paging: Option<&[u8]>) -> Vec<u8> {
    let flags = 0x01 | if paging.is_some() { 0x02 } else { 0 };
    let mut w = W::new().int(2).int(flags).int(cols as i32);
    if let Some(p) = paging {
        w = w.bytes(p);
    }
    w = w.string("shop").string("events");
    for i in 0..cols {
        w = w.string(&format!("c{i}")).short(0x000D);
    }
    w = w.int(rows as i32);
    for r in 0..rows {
        for _ in 0..cols {
            w = w.bytes(format!("v{r}").as_bytes());
        }
    }
    w.done()
}

/// Rows result with per-column specs and nested types.
pub fn rows_complex_body() -> Vec<u8> {
    W::new()
        .int(2)
        .int(0)
        .int(4)
        .string("ks")
        .string("t")
        .string("m")
        .short(0x21)
        .short(0x0D)
        .short(0x20)
        .short(0x09)
        .string("ks")
        .string("t")
        .string("u")
        .short(0x30)
        .string("ks")
        .string("addr")
        .short(2)
        .string("street")
        .short(0x0D)
        .string("zip")
        .short(0x31)
        .short(2)
        .short(0x09)
        .short(0x00)
        .string("org.apache.cassandra.db.marshal.BytesType")
        .string("ks")
        .string("t")
        .string("s")
        .short(0x22)
        .short(0x0C)
        .string("ks")
        .string("t")
        .string("x")
        .short(0x02)
        .int(0)
        .done()
}

/// PREPARED result (v4).
pub fn prepared_body(id: &[u8]) -> Vec<u8> {
    W::new()
        .int(4)
        .short_bytes(id)
        // prepared metadata: global spec, 1 column, 1 pk index
        .int(1)
        .int(1)
        .int(1)
        .short(0)
        .string("shop")
        .string("orders")
        .string("id")
        .short(0x09)
        // result metadata: no metadata
        .int(4)
        .int(2)
        .done()
}

/// ERROR body with extra detail bytes.
pub fn error_body(code: i32, msg: &str, detail: Vec<u8>) -> Vec<u8> {
    W::new().int(code).string(msg).raw(&detail).done()
}

/// LZ4 body: 4-byte big-endian length + raw block.
pub fn lz4(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&lz4_flex::block::compress(body));
    out
}

/// Snappy body.
pub fn snappy(body: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(body).unwrap()
}
