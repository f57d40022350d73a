//! Unit tests: hand-built PostgreSQL conversations, each fed whole, in 1-byte pieces and in
//! random pieces with identical results (harness shared with the MySQL tests).

use crate::config::CommonConfig;
use crate::proto::mysql::tests::harness::{self, d, f, run_all, Ev, C, S};
use crate::proto::{Status, Txn};

use super::*;

const PORT: u16 = 5432;

fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cstrs(parts: &[&str]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(p.as_bytes());
        v.push(0);
    }
    v
}

fn startup(user: &str, db: &str) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    body.extend(cstrs(&[
        "user",
        user,
        "database",
        db,
        "application_name",
        "psql",
        "",
    ]));
    let mut v = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    v.extend(body);
    v
}

fn ssl_request() -> Vec<u8> {
    let mut v = 8u32.to_be_bytes().to_vec();
    v.extend_from_slice(&parse::SSL_REQUEST.to_be_bytes());
    v
}

fn auth(code: u32, extra: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(extra);
    msg(b'R', &b)
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn row_desc(cols: &[&str]) -> Vec<u8> {
    let mut b = (cols.len() as u16).to_be_bytes().to_vec();
    for c in cols {
        b.extend_from_slice(c.as_bytes());
        b.push(0);
        b.extend_from_slice(&[0; 18]);
    }
    msg(b'T', &b)
}

fn data_row(vals: &[Option<&str>]) -> Vec<u8> {
    let mut b = (vals.len() as u16).to_be_bytes().to_vec();
    for v in vals {
        match v {
            Some(s) => {
                b.extend_from_slice(&(s.len() as i32).to_be_bytes());
                b.extend_from_slice(s.as_bytes());
            }
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    msg(b'D', &b)
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstrs(&[tag]))
}

fn error(sev: &str, code: &str, m: &str) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in [(b'S', sev), (b'V', sev), (b'C', code), (b'M', m)] {
        b.push(k);
        b.extend(cstrs(&[v]));
    }
    b.push(0);
    msg(b'E', &b)
}

fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &cstrs(&[sql]))
}

fn parse_msg(name: &str, sql: &str) -> Vec<u8> {
    let mut b = cstrs(&[name, sql]);
    b.extend_from_slice(&0u16.to_be_bytes());
    msg(b'P', &b)
}

fn bind(stmt: &str) -> Vec<u8> {
    let mut b = cstrs(&["", stmt]);
    b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, b'4', b'2', 0, 0]);
    msg(b'B', &b)
}

fn describe_exec_sync() -> Vec<u8> {
    [msg(b'D', b"P\0"), msg(b'E', b"\0\0\0\0\0"), msg(b'S', b"")].concat()
}

fn startup_script() -> Vec<Ev> {
    let resp = [auth(10, b"SCRAM-SHA-256\0\0")].concat();
    let fin = [
        auth(12, b"v=abc"),
        auth(0, b""),
        msg(b'S', &cstrs(&["server_version", "15.4"])),
        msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]),
        ready(),
    ]
    .concat();
    vec![
        d(C, 0, &ssl_request()),
        d(S, 1, b"N"),
        d(C, 2, &startup("appuser", "inventory")),
        d(S, 3, &resp),
        d(C, 4, &msg(b'p', b"SCRAM-SHA-256\0\0\0\0\x05n,,n=")),
        d(S, 5, &auth(11, b"r=xyz")),
        d(C, 6, &msg(b'p', b"c=biws")),
        d(S, 7, &fin),
    ]
}

fn run(script: &[Ev]) -> Vec<Txn> {
    run_all::<Pgsql>(&Config::default(), &CommonConfig::default(), PORT, script)
}

#[test]
fn startup_and_simple_query() {
    let mut s = startup_script();
    let q = query("SELECT id,\n  name FROM items");
    let r = [
        row_desc(&["id", "name"]),
        data_row(&[Some("1"), Some("bolt")]),
        data_row(&[Some("2"), None]),
        complete("SELECT 2"),
        ready(),
    ]
    .concat();
    s.extend([
        d(C, 10, &q),
        d(S, 11, &r),
        d(C, 12, &msg(b'X', b"")),
        Ev::Fin(C),
    ]);
    let t = run(&s);
    assert_eq!(t.len(), 2, "{t:#?}");
    assert_eq!(t[0].method.as_deref(), Some("STARTUP"));
    assert_eq!(t[0].query.as_deref(), Some("inventory"));
    assert_eq!(f(&t[0], "user.name"), "appuser");
    assert_eq!(t[0].request_ts, Some(harness::ts(2)));
    assert_eq!(t[0].response_ts, Some(harness::ts(3)));
    let q0 = &t[1];
    assert_eq!(q0.method.as_deref(), Some("SELECT"));
    assert_eq!(q0.query.as_deref(), Some("SELECT id, name FROM items"));
    assert_eq!(q0.request_bytes, Some(q.len() as u64));
    assert_eq!(q0.response_bytes, Some(r.len() as u64));
    assert_eq!(f(q0, "pgsql.num_rows"), 2);
    assert_eq!(f(q0, "pgsql.num_fields"), 2);
    assert_eq!(q0.status, Status::Ok);
}

#[test]
fn ssl_accepted_stops() {
    let t = run(&[
        d(C, 0, &ssl_request()),
        d(S, 1, b"S"),
        d(C, 2, b"\x16\x03\x01\x00\x05hello"),
        d(S, 3, b"\x16\x03\x03\x00\x05world"),
    ]);
    assert!(t.is_empty());
}

#[test]
fn multi_statement_and_errors() {
    let q = query("BEGIN; SELECT count(*) FROM items; COMMIT");
    let r = [
        complete("BEGIN"),
        row_desc(&["count"]),
        data_row(&[Some("7")]),
        complete("SELECT 1"),
        complete("COMMIT"),
        ready(),
    ]
    .concat();
    let bad = query("SELEC 1");
    let e = [
        error("ERROR", "42601", "syntax error at or near \"SELEC\""),
        ready(),
    ]
    .concat();
    let t = run(&[d(C, 0, &q), d(S, 1, &r), d(C, 2, &bad), d(S, 3, &e)]);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].method.as_deref(), Some("BEGIN"));
    assert_eq!(f(&t[0], "pgsql.num_rows"), 1);
    assert_eq!(t[1].status, Status::Error);
    assert_eq!(t[1].method.as_deref(), Some("SELEC"));
    assert_eq!(f(&t[1], "pgsql.error_code"), "42601");
    assert_eq!(f(&t[1], "pgsql.error_severity"), "ERROR");
    assert_eq!(f(&t[1], "pgsql.num_rows"), &serde_json::Value::Null);
}

#[test]
fn extended_protocol_units() {
    let sql = "SELECT id FROM items WHERE qty > $1";
    let prep = [parse_msg("s1", sql), msg(b'S', b"")].concat();
    let exec = [bind("s1"), describe_exec_sync()].concat();
    let exec_resp = [
        msg(b'2', b""),
        row_desc(&["id"]),
        data_row(&[Some("1")]),
        data_row(&[Some("2")]),
        complete("SELECT 2"),
        ready(),
    ]
    .concat();
    let ins = "INSERT INTO audit (note) VALUES ($1)";
    let pipe = [
        parse_msg("", ins),
        bind(""),
        describe_exec_sync(),
        msg(b'H', b""),
    ]
    .concat();
    let pipe_resp = [
        msg(b'1', b""),
        msg(b'2', b""),
        msg(b'n', b""),
        complete("INSERT 0 1"),
        ready(),
    ]
    .concat();
    let t = run(&[
        d(C, 0, &prep),
        d(S, 1, &[msg(b'1', b""), ready()].concat()),
        d(C, 2, &exec),
        d(S, 3, &exec_resp),
        d(C, 4, &exec),
        d(S, 5, &exec_resp),
        d(C, 6, &pipe),
        d(S, 7, &pipe_resp),
        // A lone Sync is not an event.
        d(C, 8, &msg(b'S', b"")),
        d(S, 9, &ready()),
    ]);
    assert_eq!(t.len(), 4, "{t:#?}");
    assert_eq!(t[0].query.as_deref(), Some(sql));
    assert_eq!(f(&t[0], "pgsql.num_rows"), 0);
    for x in &t[1..3] {
        assert_eq!(x.method.as_deref(), Some("SELECT"));
        assert_eq!(x.query.as_deref(), Some(sql));
        assert_eq!(f(x, "pgsql.num_rows"), 2);
        assert_eq!(x.request_bytes, Some(exec.len() as u64));
        assert_eq!(x.response_bytes, Some(exec_resp.len() as u64));
    }
    assert_eq!(t[3].method.as_deref(), Some("INSERT"));
    assert_eq!(t[3].request_bytes, Some(pipe.len() as u64));
    assert_eq!(t[3].response_bytes, Some(pipe_resp.len() as u64));
}

#[test]
fn copy_in_and_out() {
    let out_q = query("COPY items TO STDOUT");
    let out_r = [
        msg(b'H', &[0, 0, 1, 0, 0]),
        msg(b'd', b"1\tbolt\n"),
        msg(b'd', b"2\tnut\n"),
        msg(b'c', b""),
        complete("COPY 2"),
        ready(),
    ]
    .concat();
    let in_q = query("COPY items FROM STDIN");
    let in_data = [msg(b'd', b"3\twasher\n"), msg(b'c', b"")].concat();
    let in_r = [complete("COPY 1"), ready()].concat();
    let t = run(&[
        d(C, 0, &out_q),
        d(S, 1, &out_r),
        d(C, 2, &in_q),
        d(S, 3, &msg(b'G', &[0, 0, 1, 0, 0])),
        d(C, 4, &in_data),
        d(S, 5, &in_r),
    ]);
    assert_eq!(t.len(), 2);
    assert_eq!(f(&t[0], "pgsql.num_rows"), 0);
    assert_eq!(t[0].response_bytes, Some(out_r.len() as u64));
    assert_eq!(
        t[1].request_bytes,
        Some((in_q.len() + in_data.len()) as u64)
    );
    assert_eq!(t[1].response_bytes, Some((in_r.len() + 10) as u64));
    assert_eq!(t[1].method.as_deref(), Some("COPY"));
}

#[test]
fn async_messages_and_notices() {
    let notify = msg(b'A', b"\0\0\0\x07chan\0payload\0");
    let q = query("NOTIFY chan");
    let r = [
        msg(b'N', b"SWARNING\0C01000\0Mcareful\0\0"),
        complete("NOTIFY"),
        notify.clone(),
        ready(),
    ]
    .concat();
    let t = run(&[
        d(S, 0, &notify),
        d(S, 0, &msg(b'S', &cstrs(&["TimeZone", "UTC"]))),
        d(C, 1, &q),
        d(S, 2, &r),
        d(S, 3, &notify),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].response_bytes, Some(r.len() as u64));
    assert_eq!(t[0].status, Status::Ok);
}

#[test]
fn login_failure() {
    let t = run(&[
        d(C, 0, &startup("appuser", "inventory")),
        d(S, 1, &auth(5, b"salt")),
        d(C, 2, &msg(b'p', b"md5abc\0")),
        d(
            S,
            3,
            &error("FATAL", "28P01", "password authentication failed"),
        ),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].status, Status::Error);
    assert_eq!(f(&t[0], "pgsql.error_code"), "28P01");
    assert_eq!(f(&t[0], "pgsql.error_severity"), "FATAL");
}

#[test]
fn timeout_gap_resync_and_big_rows() {
    let q = query("SELECT 1");
    let t = run(&[d(C, 0, &q), Ev::Timer(5_000), Ev::Timer(10_000)]);
    assert_eq!(t.len(), 1);
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_TIMED_OUT));

    let r = [
        row_desc(&["a"]),
        data_row(&[Some("1")]),
        data_row(&[Some("2")]),
        complete("SELECT 2"),
        ready(),
    ]
    .concat();
    let t = run(&[
        d(C, 0, &q),
        d(S, 1, &r[..20]),
        Ev::Gap(S, 30),
        d(S, 2, &r[50..]),
        d(C, 3, &q),
        d(S, 4, &r),
    ]);
    assert_eq!(t.len(), 2, "{t:#?}");
    assert!(t[0].notes.iter().any(|n| n == ecs::NOTE_LOSS_RESPONSE));
    assert_eq!(f(&t[1], "pgsql.num_rows"), 2);

    // A 200 KiB row is skipped as it streams, a gap inside it keeps the framing.
    let big = "x".repeat(200 * 1024);
    let r = [
        row_desc(&["a"]),
        data_row(&[Some(&big)]),
        complete("SELECT 1"),
        ready(),
    ]
    .concat();
    let t = run(&[
        d(C, 0, &q),
        d(S, 1, &r[..100_000]),
        Ev::Gap(S, 1000),
        d(S, 2, &r[101_000..]),
    ]);
    assert_eq!(t.len(), 1);
    assert_eq!(f(&t[0], "pgsql.num_rows"), 1);
    assert_eq!(t[0].response_bytes, Some(r.len() as u64));
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
    };
    let r = [
        row_desc(&["id", "name"]),
        data_row(&[Some("1"), Some("bolt")]),
        data_row(&[None, None]),
        complete("SELECT 2"),
        ready(),
    ]
    .concat();
    let t = run_all::<Pgsql>(
        &cfg,
        &common,
        PORT,
        &[d(C, 0, &query("SELECT 1")), d(S, 1, &r)],
    );
    assert_eq!(t[0].request_raw.as_deref(), Some("SELECT 1"));
    assert_eq!(t[0].response_raw.as_deref(), Some("id,name\n1,bo\n"));
}

#[test]
fn config_parses_packetbeat_names() {
    let c: Config = serde_yaml_ng::from_str("max_rows: 5\nmax_row_length: 10").unwrap();
    assert_eq!(c.max_rows, 5);
    assert!(serde_yaml_ng::from_str::<Config>("nope: 1").is_err());
}

#[test]
fn no_panic_on_garbage() {
    let mut s = startup_script();
    s.extend([
        d(C, 10, &query("SELECT 1")),
        d(
            S,
            11,
            &[
                row_desc(&["a"]),
                data_row(&[Some("1")]),
                complete("SELECT 1"),
                ready(),
            ]
            .concat(),
        ),
        d(
            C,
            12,
            &[parse_msg("", "SELECT $1"), bind(""), describe_exec_sync()].concat(),
        ),
        d(
            S,
            13,
            &[
                msg(b'1', b""),
                msg(b'2', b""),
                error("ERROR", "22P02", "bad"),
                ready(),
            ]
            .concat(),
        ),
    ]);
    harness::robustness::<Pgsql>(&Config::default(), PORT, &s);
}
