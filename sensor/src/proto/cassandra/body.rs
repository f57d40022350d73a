//! Frame bodies: requests (QUERY, PREPARE, EXECUTE, BATCH, STARTUP, REGISTER, AUTH_RESPONSE,
//! OPTIONS) and responses (ERROR with details by code, READY, AUTHENTICATE, SUPPORTED, RESULT of
//! every kind with rows/prepared metadata, EVENT, AUTH_CHALLENGE, AUTH_SUCCESS), turned into
//! Packetbeat's `cassandra.request.*` / `cassandra.response.*` fields.

use serde_json::{json, Map, Value};

use super::parse::{
    self, error_type, hex, op, uuid_text, Header, Rd, FLAG_CUSTOM_PAYLOAD, FLAG_TRACING,
    FLAG_WARNING,
};

/// Deepest nested column type (`list<map<text, frozen<tuple<...>>>>`) followed: real schemas
/// nest a few levels; the bound stops recursion on crafted input.
const MAX_TYPE_DEPTH: usize = 16;

/// Skip one `[option]` (a column type), recursively.
fn skip_type(r: &mut Rd<'_>, depth: usize) -> Option<()> {
    if depth > MAX_TYPE_DEPTH {
        return None;
    }
    match r.short()? {
        0x0000 => {
            r.string()?;
        }
        0x0020 | 0x0022 => skip_type(r, depth + 1)?,
        0x0021 => {
            skip_type(r, depth + 1)?;
            skip_type(r, depth + 1)?;
        }
        0x0030 => {
            r.string()?;
            r.string()?;
            let n = usize::from(r.short()?);
            for _ in 0..n.min(parse::MAX_ITEMS) {
                r.string()?;
                skip_type(r, depth + 1)?;
            }
        }
        0x0031 => {
            let n = usize::from(r.short()?);
            for _ in 0..n.min(parse::MAX_ITEMS) {
                skip_type(r, depth + 1)?;
            }
        }
        _ => {}
    }
    Some(())
}

/// Rows metadata flag: one keyspace/table for all columns.
const ROWS_GLOBAL_SPEC: i32 = 0x01;
/// Rows metadata flag: a paging state follows.
const ROWS_HAS_MORE_PAGES: i32 = 0x02;
/// Rows metadata flag: no column specs.
const ROWS_NO_METADATA: i32 = 0x04;
/// v5 rows metadata flag: a new result metadata id follows.
const ROWS_METADATA_CHANGED: i32 = 0x08;

/// Packetbeat's rows-flag text, names joined by `|`.
fn rows_flags_text(f: i32) -> String {
    let names = [
        (ROWS_GLOBAL_SPEC, "GlobalTableSpec"),
        (ROWS_HAS_MORE_PAGES, "HasMorePages"),
        (ROWS_NO_METADATA, "NoMetaData"),
        (ROWS_METADATA_CHANGED, "MetadataChanged"),
    ];
    let out: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    if out.is_empty() || f & !0x0F != 0 {
        return format!("FLAG_{f}");
    }
    out.join("|")
}

/// Rows / prepared metadata. `prepared`: the variant with partition-key indexes (v4+).
fn metadata(r: &mut Rd<'_>, proto: u8, prepared: bool) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    let flags = r.int()?;
    m.insert("flags".into(), rows_flags_text(flags).into());
    let cols = r.int()?;
    m.insert("col_count".into(), cols.into());
    if prepared && proto >= 4 {
        let n = usize::try_from(r.int()?).ok()?;
        let pk: Option<Vec<u16>> = (0..n.min(parse::MAX_ITEMS)).map(|_| r.short()).collect();
        m.insert("pkey_columns".into(), pk?.into());
    }
    if !prepared && flags & ROWS_HAS_MORE_PAGES != 0 {
        if let Some(p) = r.bytes()? {
            m.insert("paging_state".into(), hex(p).to_ascii_uppercase().into());
        }
    }
    if !prepared && flags & ROWS_METADATA_CHANGED != 0 {
        r.short_bytes()?;
    }
    if flags & ROWS_NO_METADATA != 0 {
        return Some(m);
    }
    let global = flags & ROWS_GLOBAL_SPEC != 0;
    if global {
        m.insert("keyspace".into(), r.string()?.into());
        m.insert("table".into(), r.string()?.into());
    }
    for i in 0..usize::try_from(cols).unwrap_or(0).min(parse::MAX_ITEMS) {
        if !global {
            let ks = r.string()?;
            let table = r.string()?;
            if i == 0 {
                m.insert("keyspace".into(), ks.into());
                m.insert("table".into(), table.into());
            }
        }
        r.string()?;
        skip_type(r, 0)?;
    }
    Some(m)
}

/// Schema change body (RESULT Schema_change and EVENT SCHEMA_CHANGE).
fn schema_change(r: &mut Rd<'_>, proto: u8) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    let change = r.string()?;
    m.insert("change".into(), change.into());
    if proto <= 2 {
        m.insert("keyspace".into(), r.string()?.into());
        m.insert("table".into(), r.string()?.into());
        return Some(m);
    }
    let target = r.string()?;
    m.insert("target".into(), target.clone().into());
    match target.as_str() {
        "KEYSPACE" => {
            m.insert("keyspace".into(), r.string()?.into());
        }
        "TABLE" | "TYPE" => {
            m.insert("keyspace".into(), r.string()?.into());
            m.insert("object".into(), r.string()?.into());
        }
        "FUNCTION" | "AGGREGATE" => {
            m.insert("keyspace".into(), r.string()?.into());
            m.insert("name".into(), r.string()?.into());
            m.insert("args".into(), r.string_list()?.into());
        }
        _ => return None,
    }
    Some(m)
}

/// What a request body says.
#[derive(Clone, Debug, Default)]
pub struct ReqInfo {
    /// CQL text (QUERY, PREPARE).
    pub query: Option<String>,
    /// Prepared statement ids (EXECUTE: one; BATCH: one per prepared statement, in order).
    pub ids: Vec<Vec<u8>>,
    /// BATCH statement texts (in order; `None` for prepared ones).
    pub batch: Vec<Option<String>>,
    /// STARTUP's COMPRESSION option.
    pub compression: Option<String>,
    /// Extra `cassandra.request.*` fields.
    pub fields: Map<String, Value>,
}

/// Parse a request body (after decompression). `None` = malformed.
pub fn request(h: &Header, body: &[u8]) -> Option<ReqInfo> {
    let mut r = Rd::new(body);
    if h.flags & FLAG_CUSTOM_PAYLOAD != 0 {
        r.bytes_map()?;
    }
    let mut info = ReqInfo::default();
    match h.opcode {
        op::QUERY | op::PREPARE => {
            info.query = Some(r.long_string()?);
            if h.opcode == op::QUERY {
                if let Some(c) = r.consistency() {
                    info.fields.insert("consistency".into(), c.into());
                }
            }
        }
        op::EXECUTE => {
            info.ids.push(r.short_bytes()?.to_vec());
            if h.proto() >= 5 {
                r.short_bytes()?;
            }
            if let Some(c) = r.consistency() {
                info.fields.insert("consistency".into(), c.into());
            }
        }
        op::BATCH => {
            let kind = r.byte()?;
            let name = match kind {
                0 => "LOGGED",
                1 => "UNLOGGED",
                2 => "COUNTER",
                _ => "UNKNOWN",
            };
            info.fields.insert("batch_type".into(), name.into());
            let n = usize::from(r.short()?);
            for _ in 0..n.min(parse::MAX_ITEMS) {
                match r.byte()? {
                    0 => info.batch.push(Some(r.long_string()?)),
                    1 => {
                        info.ids.push(r.short_bytes()?.to_vec());
                        info.batch.push(None);
                    }
                    _ => return None,
                }
                let values = usize::from(r.short()?);
                for _ in 0..values.min(parse::MAX_ITEMS) {
                    r.value()?;
                }
            }
            if let Some(c) = r.consistency() {
                info.fields.insert("consistency".into(), c.into());
            }
        }
        op::STARTUP => {
            for (k, v) in r.string_map()? {
                if k.eq_ignore_ascii_case("COMPRESSION") {
                    info.compression = Some(v.clone());
                }
                if k.eq_ignore_ascii_case("CQL_VERSION") {
                    info.fields.insert("cql_version".into(), v.into());
                }
            }
        }
        op::REGISTER => {
            info.fields.insert("events".into(), r.string_list()?.into());
        }
        op::AUTH_RESPONSE | op::OPTIONS => {}
        _ => return None,
    }
    Some(info)
}

/// What a response body says.
#[derive(Clone, Debug, Default)]
pub struct RespInfo {
    /// `cassandra.response.*` fields (result, error, supported, authentication, event, warnings).
    pub fields: Map<String, Value>,
    /// A PREPARED result: its statement id.
    pub prepared_id: Option<Vec<u8>>,
    /// An ERROR: code and message.
    pub error: Option<(i32, String)>,
}

/// Parse a response body (after decompression). Fields read before a malformed part are
/// kept; the flag says whether the whole body parsed.
pub fn response(h: &Header, body: &[u8], info: &mut RespInfo) -> bool {
    response_inner(h, body, info).is_some()
}

fn response_inner(h: &Header, body: &[u8], info: &mut RespInfo) -> Option<()> {
    let mut r = Rd::new(body);
    let proto = h.proto();
    if h.flags & FLAG_TRACING != 0 {
        info.fields.insert("tracing_id".into(), r.uuid()?.into());
    }
    if h.flags & FLAG_WARNING != 0 {
        info.fields
            .insert("warnings".into(), r.string_list()?.into());
    }
    if h.flags & FLAG_CUSTOM_PAYLOAD != 0 {
        r.bytes_map()?;
    }
    match h.opcode {
        op::ERROR => error(&mut r, info),
        op::READY => Some(()),
        op::AUTHENTICATE => {
            let class = r.string()?;
            info.fields
                .insert("authentication".into(), json!({ "class": class }));
            Some(())
        }
        op::AUTH_CHALLENGE | op::AUTH_SUCCESS => {
            let data = r.bytes()?.unwrap_or_default();
            let text = format!("{:?}", String::from_utf8_lossy(data));
            info.fields
                .insert("authentication".into(), json!({ "data": text }));
            Some(())
        }
        op::SUPPORTED => {
            let m = r.string_multimap()?;
            info.fields.insert("supported".into(), Value::Object(m));
            Some(())
        }
        op::RESULT => result(&mut r, proto, info),
        op::EVENT => {
            let mut ev = Map::new();
            let res = event(&mut r, proto, &mut ev);
            info.fields.insert("event".into(), Value::Object(ev));
            res
        }
        _ => None,
    }
}

fn error(r: &mut Rd<'_>, info: &mut RespInfo) -> Option<()> {
    let code = r.int()?;
    let msg = r.string()?;
    info.error = Some((code, msg.clone()));
    let mut e = Map::new();
    e.insert("code".into(), code.into());
    e.insert("msg".into(), msg.into());
    e.insert("type".into(), error_type(code).into());
    let mut d = Map::new();
    let res = error_details(r, code, &mut d);
    if !d.is_empty() {
        e.insert("details".into(), Value::Object(d));
    }
    info.fields.insert("error".into(), Value::Object(e));
    res
}

fn error_details(r: &mut Rd<'_>, code: i32, d: &mut Map<String, Value>) -> Option<()> {
    match code {
        0x1000 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("required".into(), r.int()?.into());
            d.insert("alive".into(), r.int()?.into());
        }
        0x1100 | 0x1700 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            if code == 0x1100 {
                d.insert("write_type".into(), r.string()?.into());
            }
        }
        0x1200 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            d.insert("data_present".into(), (r.byte()? != 0).into());
        }
        0x1300 | 0x1500 => {
            d.insert("read_consistency".into(), r.consistency()?.into());
            d.insert("received".into(), r.int()?.into());
            d.insert("blockfor".into(), r.int()?.into());
            d.insert("num_failures".into(), r.int()?.into());
            if code == 0x1300 {
                d.insert("data_present".into(), (r.byte()? != 0).into());
            } else {
                d.insert("write_type".into(), r.string()?.into());
            }
        }
        0x1400 => {
            d.insert("keyspace".into(), r.string()?.into());
            d.insert("function".into(), r.string()?.into());
            d.insert("arg_types".into(), r.string_list()?.into());
        }
        0x2400 => {
            d.insert("keyspace".into(), r.string()?.into());
            d.insert("table".into(), r.string()?.into());
        }
        0x2500 => {
            d.insert("stmt_id".into(), hex(r.short_bytes()?).into());
        }
        _ => {}
    }
    Some(())
}

fn result(r: &mut Rd<'_>, proto: u8, info: &mut RespInfo) -> Option<()> {
    let mut res = Map::new();
    let kind = r.int()?;
    let out = match kind {
        1 => {
            res.insert("type".into(), "void".into());
            Some(())
        }
        2 => {
            res.insert("type".into(), "rows".into());
            let mut rows = Map::new();
            let ok = metadata(r, proto, false).map(|m| {
                rows.insert("meta".into(), Value::Object(m));
            });
            let ok = ok.and_then(|()| r.int()).map(|n| {
                rows.insert("num_rows".into(), n.into());
            });
            res.insert("rows".into(), Value::Object(rows));
            ok
        }
        3 => {
            res.insert("type".into(), "set_keyspace".into());
            let ks = r.string();
            if let Some(k) = &ks {
                res.insert("keyspace".into(), k.clone().into());
            }
            ks.map(|_| ())
        }
        4 => {
            res.insert("type".into(), "prepared".into());
            let mut p = Map::new();
            let id = r.short_bytes();
            if let Some(id) = id {
                info.prepared_id = Some(id.to_vec());
                p.insert("prepared_id".into(), uuid_text(id).into());
            }
            let ok = id
                .and_then(|_| {
                    if proto >= 5 {
                        r.short_bytes()
                    } else {
                        Some(&[][..])
                    }
                })
                .and_then(|_| metadata(r, proto, true))
                .map(|m| {
                    p.insert("req_meta".into(), Value::Object(m));
                })
                .and_then(|()| {
                    if proto >= 2 {
                        metadata(r, proto, false)
                    } else {
                        Some(Map::new())
                    }
                })
                .map(|m| {
                    if !m.is_empty() {
                        p.insert("resp_meta".into(), Value::Object(m));
                    }
                });
            res.insert("prepared".into(), Value::Object(p));
            ok
        }
        5 => {
            res.insert("type".into(), "schemaChanged".into());
            let sc = schema_change(r, proto);
            if let Some(sc) = &sc {
                res.insert("schema_change".into(), Value::Object(sc.clone()));
            }
            sc.map(|_| ())
        }
        _ => None,
    };
    info.fields.insert("result".into(), Value::Object(res));
    out
}

fn event(r: &mut Rd<'_>, proto: u8, ev: &mut Map<String, Value>) -> Option<()> {
    let t = r.string()?;
    ev.insert("type".into(), t.clone().into());
    match t.as_str() {
        "TOPOLOGY_CHANGE" | "STATUS_CHANGE" => {
            ev.insert("change".into(), r.string()?.into());
            let (host, port) = r.inet()?;
            ev.insert("host".into(), host.into());
            ev.insert("port".into(), port.into());
        }
        "SCHEMA_CHANGE" => {
            ev.insert(
                "schema_change".into(),
                Value::Object(schema_change(r, proto)?),
            );
        }
        _ => return None,
    }
    Some(())
}
