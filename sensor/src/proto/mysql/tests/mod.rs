//! Unit tests: hand-built MySQL conversations, each fed whole, in 1-byte pieces and in random
//! pieces with identical results.

pub(crate) mod harness;

use harness::{d, f, run_all, run_split, Ev, Split, C, S};

use super::parse::{
    CLIENT_DEPRECATE_EOF, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
    CLIENT_SSL,
};
use super::*;
use crate::config::CommonConfig;
use crate::proto::{Status, Txn};

const PORT: u16 = 3306;
const CAPS: u32 = CLIENT_PROTOCOL_41
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    | parse::CLIENT_CONNECT_WITH_DB;

fn pkt(seq: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut v = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
    v.extend_from_slice(payload);
    v
}

fn lenenc(v: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => v.push(n as u8),
        251..=0xffff => {
            v.push(0xfc);
            v.extend_from_slice(&(n as u16).to_le_bytes());
        }
        _ => {
            v.push(0xfe);
            v.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn lstr(v: &mut Vec<u8>, s: &[u8]) {
    lenenc(v, s.len() as u64);
    v.extend_from_slice(s);
}

fn greeting(caps: u32) -> Vec<u8> {
    let mut v = vec![10];
    v.extend_from_slice(b"10.11.6-MariaDB\0");
    v.extend_from_slice(&7u32.to_le_bytes());
    v.extend_from_slice(b"abcdefgh\0");
    v.extend_from_slice(&(caps as u16).to_le_bytes());
    v.push(45);
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    v.push(21);
    v.extend_from_slice(&[0; 10]);
    v.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    pkt(0, &v)
}

fn login(caps: u32, user: &str, db: &str) -> Vec<u8> {
    let mut v = caps.to_le_bytes().to_vec();
    v.extend_from_slice(&16_777_216u32.to_le_bytes());
    v.push(45);
    v.extend_from_slice(&[0; 23]);
    v.extend_from_slice(user.as_bytes());
    v.push(0);
    v.push(20);
    v.extend_from_slice(&[0x55; 20]);
    v.extend_from_slice(db.as_bytes());
    v.push(0);
    v.extend_from_slice(b"mysql_native_password\0");
    pkt(1, &v)
}

fn ok_payload(head: u8, affected: u64, insert: u64, status: u16) -> Vec<u8> {
    let mut v = vec![head];
    lenenc(&mut v, affected);
    lenenc(&mut v, insert);
    v.extend_from_slice(&status.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v
}

fn ok(seq: u8, affected: u64, insert: u64) -> Vec<u8> {
    pkt(seq, &ok_payload(0, affected, insert, 2))
}

fn err(seq: u8, code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut v = vec![0xff];
    v.extend_from_slice(&code.to_le_bytes());
    v.push(b'#');
    v.extend_from_slice(state.as_bytes());
    v.extend_from_slice(msg.as_bytes());
    pkt(seq, &v)
}

fn eof(seq: u8, status: u16) -> Vec<u8> {
    let mut v = vec![0xfe, 0, 0];
    v.extend_from_slice(&status.to_le_bytes());
    pkt(seq, &v)
}

fn coldef(seq: u8, db: &str, table: &str, name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for s in ["def", db, table, table, name, name] {
        lstr(&mut v, s.as_bytes());
    }
    v.extend_from_slice(&[0x0c, 45, 0, 0, 1, 0, 0, 253, 0, 0, 0, 0, 0]);
    pkt(seq, &v)
}

fn row(seq: u8, fields: &[Option<&str>]) -> Vec<u8> {
    let mut v = Vec::new();
    for f in fields {
        match f {
            Some(s) => lstr(&mut v, s.as_bytes()),
            None => v.push(0xfb),
        }
    }
    pkt(seq, &v)
}

fn command(c: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![c];
    v.extend_from_slice(body);
    pkt(0, &v)
}

fn stmt_cmd(c: u8, id: u32, extra: &[u8]) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend_from_slice(extra);
    command(c, &v)
}

/// A result set: column count, definitions, EOF (classic), rows, EOF.
fn result_set(cols: &[&str], rows: &[&[Option<&str>]], deprecate: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = 1u8;
    let mut n = Vec::new();
    lenenc(&mut n, cols.len() as u64);
    out.extend(pkt(seq, &n));
    for c in cols {
        seq = seq.wrapping_add(1);
        out.extend(coldef(seq, "shop", "items", c));
    }
    if !deprecate {
        seq = seq.wrapping_add(1);
        out.extend(eof(seq, 2));
    }
    for r in rows {
        seq = seq.wrapping_add(1);
        out.extend(row(seq, r));
    }
    seq = seq.wrapping_add(1);
    if deprecate {
        out.extend(pkt(seq, &ok_payload(0xfe, 0, 0, 2)));
    } else {
        out.extend(eof(seq, 2));
    }
    out
}

fn run(script: &[Ev]) -> Vec<Txn> {
    run_all::<Mysql>(&Config::default(), &CommonConfig::default(), PORT, script)
}

fn handshake(caps: u32) -> Vec<Ev> {
    vec![
        d(S, 0, &greeting(caps)),
        d(C, 1, &login(caps, "webapp", "shop")),
        d(S, 2, &ok(2, 0, 0)),
    ]
}

#[test]
fn login_query_rows_quit() {
    let mut s = handshake(CAPS);
    let q = command(3, b"SELECT id, name FROM items");
    let rs = result_set(
        &["id", "name"],
        &[&[Some("1"), Some("bolt")], &[Some("2"), None]],
        false,
    );
    s.extend([
        d(C, 10, &q),
        d(S, 12, &rs),
        d(C, 20, &command(1, b"")),
        Ev::Fin(C),
        Ev::Fin(S),
    ]);
    let t = run(&s);
    assert_eq!(t.len(), 3, "{t:#?}");
    let c = &t[0];
    assert_eq!(c.method.as_deref(), Some("CONNECT"));
    assert_eq!(c.query.as_deref(), Some("webapp"));
    assert_eq!(c.path.as_deref(), Some("shop"));
    assert_eq!(f(c, "mysql.server_version"), "10.11.6-MariaDB");
    assert_eq!(c.status, Status::Ok);
    assert_eq!(c.request_ts, Some(harness::ts(1)));
    assert_eq!(c.response_ts, Some(harness::ts(2)));
    let q0 = &t[1];
    assert_eq!(q0.method.as_deref(), Some("SELECT"));
    assert_eq!(q0.query.as_deref(), Some("SELECT id, name FROM items"));
    assert_eq!(q0.path.as_deref(), Some("shop.items"));
    assert_eq!(q0.request_bytes, Some(q.len() as u64));
    assert_eq!(q0.response_bytes, Some(rs.len() as u64));
    assert_eq!(q0.request_ts, Some(harness::ts(10)));
    assert_eq!(q0.response_ts, Some(harness::ts(12)));
    assert_eq!(f(q0, "mysql.num_rows"), 2);
    assert_eq!(f(q0, "mysql.num_fields"), 2);
    assert_eq!(q0.status, Status::Ok);
    assert_eq!(t[2].method.as_deref(), Some("COM_QUIT"));
    assert_eq!(t[2].response_bytes, None);
}

#[test]
fn deprecate_eof_negotiated_and_guessed() {
    let q = command(3, b"select 1");
    let rs = result_set(&["a"], &[&[Some("1")], &[Some("2")], &[Some("3")]], true);
    // Negotiated in the handshake.
    let mut s = handshake(CAPS | CLIENT_DEPRECATE_EOF);
    s.extend([d(C, 10, &q), d(S, 11, &rs)]);
    let t = run(&s);
    assert_eq!(f(&t[1], "mysql.num_rows"), 3);
    assert_eq!(t[1].response_bytes, Some(rs.len() as u64));
    // Handshake not captured: guessed from the packets, either style.
    for dep in [true, false] {
        let rs = result_set(&["a"], &[&[Some("x")]], dep);
        let empty = result_set(&["a"], &[], dep);
        let t = run(&[d(C, 0, &q), d(S, 1, &rs), d(C, 2, &q), d(S, 3, &empty)]);
        assert_eq!(t.len(), 2);
        assert_eq!(f(&t[0], "mysql.num_rows"), 1, "deprecate {dep}");
        assert_eq!(f(&t[1], "mysql.num_rows"), 0, "deprecate {dep}");
        assert_eq!(t[1].response_bytes, Some(empty.len() as u64));
    }
}

#[test]
fn ok_and_error_responses() {
    let ins = command(3, b"INSERT INTO items VALUES (1),(2)");
    let bad = command(3, b"SELEC 1");
    let e = err(1, 1064, "42000", "You have an error in your SQL syntax");
    let t = run(&[
        d(C, 0, &ins),
        d(S, 1, &ok(1, 2, 7)),
        d(C, 2, &bad),
        d(S, 3, &e),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(f(&t[0], "mysql.affected_rows"), 2);
    assert_eq!(f(&t[0], "mysql.insert_id"), 7);
    assert_eq!(t[0].method.as_deref(), Some("INSERT"));
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(t[1].method.as_deref(), Some("SELEC"));
    assert_eq!(f(&t[1], "mysql.error_code"), 1064);
    assert_eq!(
        f(&t[1], "mysql.error_message"),
        "You have an error in your SQL syntax"
    );
    assert_eq!(t[1].response_bytes, Some(e.len() as u64));
}

fn prepare_ok(id: u32, cols: u16, params: u16) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&id.to_le_bytes());
    v.extend_from_slice(&cols.to_le_bytes());
    v.extend_from_slice(&params.to_le_bytes());
    v.extend_from_slice(&[0, 0, 0]);
    pkt(1, &v)
}

fn prepared_script(deprecate: bool) -> (Vec<Ev>, usize) {
    let text = "SELECT id, sku FROM items WHERE price > ?";
    let mut prep_resp = prepare_ok(1, 2, 1);
    prep_resp.extend(coldef(2, "", "", "?"));
    if !deprecate {
        prep_resp.extend(eof(3, 2));
    }
    prep_resp.extend(coldef(4, "shop", "items", "id"));
    prep_resp.extend(coldef(5, "shop", "items", "sku"));
    if !deprecate {
        prep_resp.extend(eof(6, 2));
    }
    let exec = stmt_cmd(
        0x17,
        1,
        &[0, 1, 0, 0, 0, 0, 1, 8, 0, 5, 0, 0, 0, 0, 0, 0, 0],
    );
    let mut exec_resp = pkt(1, &[2]);
    exec_resp.extend(coldef(2, "shop", "items", "id"));
    exec_resp.extend(coldef(3, "shop", "items", "sku"));
    if !deprecate {
        exec_resp.extend(eof(4, 2));
    }
    for i in 0..3u8 {
        exec_resp.extend(pkt(5 + i, &[0, 0, 1, 0, 0, 0, 2, b'a', b'b']));
    }
    if deprecate {
        exec_resp.extend(pkt(8, &ok_payload(0xfe, 0, 0, 2)));
    } else {
        exec_resp.extend(eof(8, 2));
    }
    let len = exec_resp.len();
    let s = vec![
        d(C, 0, &command(0x16, text.as_bytes())),
        d(S, 1, &prep_resp),
        d(C, 2, &stmt_cmd(0x1a, 1, &[])),
        d(S, 3, &ok(1, 0, 0)),
        d(C, 4, &exec),
        d(S, 5, &exec_resp),
        d(C, 6, &stmt_cmd(0x19, 1, &[])),
        d(C, 7, &stmt_cmd(0x17, 1, &[0, 1, 0, 0, 0])),
        d(
            S,
            8,
            &err(1, 1243, "HY000", "Unknown prepared statement handler"),
        ),
    ];
    (s, len)
}

#[test]
fn prepared_statements() {
    for deprecate in [false, true] {
        let (s, exec_len) = prepared_script(deprecate);
        let t = run(&s);
        assert_eq!(t.len(), 5, "{t:#?}");
        let text = "SELECT id, sku FROM items WHERE price > ?";
        assert_eq!(t[0].method.as_deref(), Some("SELECT"));
        assert_eq!(t[0].query.as_deref(), Some(text));
        assert_eq!(f(&t[0], "mysql.statement_id"), 1);
        assert_eq!(f(&t[0], "mysql.num_params"), 1);
        assert_eq!(t[1].method.as_deref(), Some("COM_STMT_RESET"));
        assert_eq!(t[2].method.as_deref(), Some("SELECT"));
        assert_eq!(t[2].query.as_deref(), Some(text));
        assert_eq!(f(&t[2], "mysql.num_rows"), 3);
        assert_eq!(t[2].response_bytes, Some(exec_len as u64));
        assert_eq!(t[3].method.as_deref(), Some("COM_STMT_CLOSE"));
        // After the close the statement is unknown.
        assert_eq!(t[4].method.as_deref(), Some("COM_STMT_EXECUTE"));
        assert_eq!(t[4].query, None);
        assert_eq!(t[4].status, Status::Error);
        assert!(t[4].notes.iter().any(|n| n == ecs::NOTE_UNKNOWN_STMT));
    }
}

#[test]
fn ssl_request_stops_parsing() {
    let ssl = {
        let mut v = (CAPS | CLIENT_SSL).to_le_bytes().to_vec();
        v.extend_from_slice(&[0, 0, 0, 1, 45]);
        v.extend_from_slice(&[0; 23]);
        pkt(1, &v)
    };
    let t = run(&[
        d(S, 0, &greeting(CAPS | CLIENT_SSL)),
        d(C, 1, &ssl),
        d(C, 2, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        d(S, 3, b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76"),
    ]);
    assert_eq!(t.len(), 1);
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_TLS));
}

#[test]
fn login_failure() {
    let t = run(&[
        d(S, 0, &greeting(CAPS)),
        d(C, 1, &login(CAPS, "webapp", "shop")),
        d(
            S,
            2,
            &err(2, 1045, "28000", "Access denied for user 'webapp'"),
        ),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(f(&t[0], "mysql.error_code"), 1045);
}

#[test]
fn auth_switch_then_ok() {
    let mut sw = vec![0xfe];
    sw.extend_from_slice(b"caching_sha2_password\0abcdefghij0123456789\0");
    let t = run(&[
        d(S, 0, &greeting(CAPS)),
        d(C, 1, &login(CAPS, "u", "db")),
        d(S, 2, &pkt(2, &sw)),
        d(C, 3, &pkt(3, &[7; 32])),
        d(S, 4, &pkt(4, &[1, 3])),
        d(S, 4, &ok(5, 0, 0)),
        d(C, 5, &command(0x0e, b"")),
        d(S, 6, &ok(1, 0, 0)),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].status, Status::Ok);
    assert_eq!(
        t[0].request_bytes,
        Some((login(CAPS, "u", "db").len() + 36) as u64)
    );
    assert_eq!(t[1].method.as_deref(), Some("COM_PING"));
}

#[test]
fn multi_results_and_infile() {
    let q = command(3, b"CALL p()");
    let mut r = result_set(&["a"], &[&[Some("1")]], false);
    // Mark the first result's EOF with SERVER_MORE_RESULTS_EXISTS, then a second set and OK.
    let n = r.len();
    r.truncate(n - 9);
    r.extend(eof(5, 2 | parse::SERVER_MORE_RESULTS_EXISTS));
    let mut r2 = result_set(&["b"], &[&[Some("2")], &[Some("3")]], false);
    r2.truncate(r2.len() - 9);
    r2.extend(eof(7, 2 | parse::SERVER_MORE_RESULTS_EXISTS));
    r.extend(r2);
    r.extend(pkt(8, &ok_payload(0, 0, 0, 2)));
    let load = command(3, b"LOAD DATA LOCAL INFILE 'x' INTO TABLE t");
    let t = run(&[
        d(C, 0, &q),
        d(S, 1, &r),
        d(C, 2, &load),
        d(S, 3, &pkt(1, b"\xfbx")),
        d(C, 4, &pkt(2, b"1\n2\n")),
        d(C, 4, &pkt(3, b"")),
        d(S, 5, &ok(4, 2, 0)),
    ]);
    assert_eq!(t.len(), 2, "{t:#?}");
    assert_eq!(f(&t[0], "mysql.num_rows"), 3);
    assert_eq!(t[0].response_bytes, Some(r.len() as u64));
    assert_eq!(t[1].request_bytes, Some((load.len() + 8 + 4) as u64));
    assert_eq!(f(&t[1], "mysql.affected_rows"), 2);
}

#[test]
fn mariadb_metadata_skipped() {
    let exec = stmt_cmd(0x17, 5, &[0, 1, 0, 0, 0]);
    let mut r = pkt(1, &[2, 0]);
    r.extend(pkt(2, &[0, 0, 1, 0, 0, 0]));
    r.extend(pkt(3, &ok_payload(0xfe, 0, 0, 2)));
    let t = run(&[d(C, 0, &exec), d(S, 1, &r)]);
    assert_eq!(f(&t[0], "mysql.num_rows"), 1);
    assert_eq!(f(&t[0], "mysql.num_fields"), 2);
    assert_eq!(t[0].response_bytes, Some(r.len() as u64));
}

#[test]
fn long_result_set_incremental() {
    let rows: Vec<Vec<Option<&str>>> = (0..2000).map(|_| vec![Some("row-value")]).collect();
    let refs: Vec<&[Option<&str>]> = rows.iter().map(|r| r.as_slice()).collect();
    let rs = result_set(&["v"], &refs, false);
    let q = command(3, b"SELECT v FROM big");
    let t = run(&[
        d(C, 0, &q),
        d(S, 1, &rs[..rs.len() / 2]),
        d(S, 2, &rs[rs.len() / 2..]),
    ]);
    assert_eq!(f(&t[0], "mysql.num_rows"), 2000);
    assert_eq!(t[0].response_bytes, Some(rs.len() as u64));
    assert_eq!(t[0].response_ts, Some(harness::ts(1)));
}

#[test]
fn sixteen_mib_packets() {
    // A row of 16 MiB − 1 + 10 bytes: two packets, one row.
    let big = vec![b'x'; MAX_PAYLOAD + 10];
    let mut payload = Vec::new();
    lstr(&mut payload, &big[..MAX_PAYLOAD + 10 - 5]);
    let (a, b) = payload.split_at(MAX_PAYLOAD);
    let mut rs = pkt(1, &[1]);
    rs.extend(coldef(2, "d", "t", "blob"));
    rs.extend(eof(3, 2));
    rs.extend(pkt(4, a));
    rs.extend(pkt(5, b));
    rs.extend(eof(6, 2));
    let q = command(3, b"SELECT blob FROM t");
    let script = [d(C, 0, &q), d(S, 1, &rs)];
    let cfg = Config::default();
    let common = CommonConfig::default();
    let (whole, _) = run_split::<Mysql>(&cfg, &common, PORT, &script, Split::Whole);
    let (pieces, _) = run_split::<Mysql>(&cfg, &common, PORT, &script, Split::Random(3, 70_000));
    assert_eq!(whole, pieces);
    assert_eq!(f(&whole[0], "mysql.num_rows"), 1);
    assert_eq!(whole[0].response_bytes, Some(rs.len() as u64));
}

#[test]
fn timeout_gap_and_resync() {
    let q = command(3, b"SELECT 1");
    let t = run(&[d(C, 0, &q), Ev::Timer(5_000), Ev::Timer(11_000)]);
    assert_eq!(t.len(), 1);
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_TIMED_OUT));
    assert_eq!(t[0].response_bytes, None);

    let rs = result_set(&["a"], &[&[Some("1")], &[Some("2")]], false);
    let t = run(&[
        d(C, 0, &q),
        d(S, 1, &rs[..20]),
        Ev::Gap(S, 50),
        d(S, 2, &rs[70..]),
        d(C, 3, &q),
        d(S, 4, &ok(1, 0, 0)),
    ]);
    assert_eq!(t.len(), 2, "{t:#?}");
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_LOSS_RESPONSE));
    assert_eq!(t[1].response_bytes, Some(11));
    assert_eq!(t[1].status, Status::Ok);
}

#[test]
fn query_attributes_and_field_list() {
    let mut body = vec![0, 1];
    body.extend_from_slice(b"SELECT 2");
    let mut attr = vec![1, 1, 0, 1, 0xfe, 0];
    lstr(&mut attr, b"trace");
    lstr(&mut attr, b"abc");
    attr.extend_from_slice(b"SELECT 3");
    let t = run(&[
        d(C, 0, &command(3, &body)),
        d(S, 1, &ok(1, 0, 0)),
        d(C, 2, &command(3, &attr)),
        d(S, 3, &ok(1, 0, 0)),
        d(C, 4, &command(4, b"items\0")),
        d(
            S,
            5,
            &[coldef(1, "shop", "items", "id"), eof(2, 2)].concat(),
        ),
    ]);
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].query.as_deref(), Some("SELECT 2"));
    assert_eq!(t[1].query.as_deref(), Some("SELECT 3"));
    assert_eq!(t[2].query.as_deref(), Some("items"));
    assert_eq!(t[2].path.as_deref(), Some("shop.items"));
}

#[test]
fn raw_request_and_response() {
    let common = CommonConfig {
        send_request: true,
        send_response: true,
        ..CommonConfig::default()
    };
    let cfg = Config {
        max_rows: 1,
        max_row_length: 3,
        ..Config::default()
    };
    let rs = result_set(
        &["id", "name"],
        &[&[Some("1"), Some("bolt")], &[Some("2"), None]],
        false,
    );
    let t = run_all::<Mysql>(
        &cfg,
        &common,
        PORT,
        &[d(C, 0, &command(3, b"SELECT 1")), d(S, 1, &rs)],
    );
    assert_eq!(t[0].request_raw.as_deref(), Some("SELECT 1"));
    assert_eq!(t[0].response_raw.as_deref(), Some("id,name\n1,bo\n"));
}

#[test]
fn config_parses_packetbeat_names() {
    let c: Config =
        serde_yaml_ng::from_str("max_rows: 5\nmax_row_length: 10\nstatement_timeout: 30m").unwrap();
    assert_eq!(c.max_rows, 5);
    assert_eq!(c.statement_timeout, Duration::from_secs(1800));
    assert!(serde_yaml_ng::from_str::<Config>("nope: 1").is_err());
}

#[test]
fn no_panic_on_garbage() {
    let (mut s, _) = prepared_script(false);
    let mut h = handshake(CAPS);
    h.append(&mut s);
    harness::robustness::<Mysql>(&Config::default(), PORT, &h);
}
