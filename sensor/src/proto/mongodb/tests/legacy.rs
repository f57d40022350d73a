//! Legacy opcodes (OP_QUERY/OP_REPLY/writes/OP_GET_MORE/OP_KILL_CURSORS) and OP_COMPRESSED.

use super::wire::*;
use super::*;

#[test]
fn legacy_query_ismaster_and_find() {
    let ismaster = op_query(
        1,
        "admin.$cmd",
        0,
        -1,
        &doc(&[("isMaster", B::I32(1)), ("client", B::Doc(doc(&[])))]),
        None,
    );
    let reply = op_reply(
        70,
        1,
        8,
        0,
        &[doc(&[("ismaster", B::Bool(true)), ("ok", B::F64(1.0))])],
    );
    let wrapped = op_query(
        2,
        "test.$cmd",
        0,
        -1,
        &doc(&[
            (
                "$query",
                B::Doc(doc(&[("count", B::Str("c")), ("query", B::Doc(doc(&[])))])),
            ),
            (
                "$readPreference",
                B::Doc(doc(&[("mode", B::Str("primary"))])),
            ),
        ]),
        None,
    );
    let reply2 = op_reply(
        71,
        2,
        8,
        0,
        &[doc(&[("n", B::I32(3)), ("ok", B::F64(1.0))])],
    );
    let find = op_query(
        3,
        "test.c",
        10,
        20,
        &doc(&[("a", B::I32(1))]),
        Some(&doc(&[("a", B::I32(1))])),
    );
    let err = op_reply(
        72,
        3,
        2,
        0,
        &[doc(&[("$err", B::Str("bad query")), ("code", B::I32(2))])],
    );
    let (ev, st) = run(&[
        d(C, 0, ismaster),
        d(S, 1, reply),
        d(C, 2, wrapped),
        d(S, 3, reply2),
        d(C, 4, find),
        d(S, 5, err),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].method.as_deref(), Some("isMaster"));
    assert_eq!(ev[0].resource.as_deref(), Some("admin"));
    assert_eq!(mf(&ev[0])["fullCollectionName"], "admin.$cmd");
    assert_eq!(mf(&ev[0])["numberReturned"], 1);
    assert_eq!(mf(&ev[0])["opcodeName"], "OP_QUERY");
    assert_eq!(ev[1].method.as_deref(), Some("count"));
    assert_eq!(ev[1].resource.as_deref(), Some("test.c"));
    assert_eq!(ev[2].method.as_deref(), Some("find"));
    assert_eq!(ev[2].resource.as_deref(), Some("test.c"));
    assert_eq!(ev[2].status, Status::Error);
    assert_eq!(mf(&ev[2])["error"], "bad query");
    assert_eq!(mf(&ev[2])["numberToSkip"], 10);
    assert_eq!(mf(&ev[2])["returnFieldsSelector"], r#"{"a":1}"#);
    assert_eq!(
        ev[2].query.as_deref(),
        Some(r#"test.c.find({"a":1}).skip(10).limit(20)"#)
    );
}

#[test]
fn legacy_writes_get_more_and_kill_cursors() {
    let ins = op_legacy(
        1,
        2002,
        "db.c",
        &[doc(&[("x", B::I32(1))]), doc(&[("x", B::I32(2))])],
    );
    let upd = op_legacy(
        2,
        2001,
        "db.c",
        &[
            doc(&[("x", B::I32(1))]),
            doc(&[("$set", B::Doc(doc(&[("y", B::I32(2))])))]),
        ],
    );
    let del = op_legacy(3, 2006, "db.c", &[doc(&[("x", B::I32(2))])]);
    let gm = op_get_more(4, "db.c", 100, 99);
    let gm_reply = op_reply(80, 4, 0, 0, &[doc(&[("x", B::I32(5))])]);
    let kill = op_kill_cursors(5, &[99]);
    let (ev, st) = run(&[
        d(C, 0, ins),
        d(C, 1, upd),
        d(C, 2, del),
        d(C, 3, gm),
        d(S, 4, gm_reply),
        d(C, 5, kill),
    ]);
    assert_eq!(st.anomalies, 0);
    let methods: Vec<_> = ev.iter().map(|t| t.method.clone().unwrap()).collect();
    assert_eq!(
        methods,
        ["insert", "update", "delete", "getMore", "killCursors"]
    );
    assert!(ev
        .iter()
        .all(|t| t.status == Status::Ok && t.notes.is_empty()));
    assert_eq!(mf(&ev[1])["selector"], r#"{"x":1}"#);
    assert_eq!(mf(&ev[1])["update"], r#"{"$set":{"y":2}}"#);
    assert_eq!(mf(&ev[2])["selector"], r#"{"x":2}"#);
    assert_eq!(mf(&ev[3])["cursorId"], 0);
    assert_eq!(mf(&ev[3])["numberReturned"], 1);
    assert_eq!(mf(&ev[3])["numberToReturn"], 100);
    assert_eq!(mf(&ev[4])["cursorId"], 99);
    assert_eq!(ev[0].resource.as_deref(), Some("db.c"));
}

#[test]
fn compressed_snappy_zlib_and_zstd() {
    let inner = find_cmd(31);
    let reply = cursor_reply(900, 31, 1, "firstBatch", 0);
    let snappy = op_compressed(&inner, 1);
    let zlib_reply = op_compressed(&reply, 2);
    let noop = op_compressed(&find_cmd(32), 0);
    let noop_reply = op_compressed(&cursor_reply(901, 32, 2, "firstBatch", 0), 0);
    let mut zstd = op_compressed(&find_cmd(33), 0);
    zstd[16 + 8] = 3; // compressor id: zstd (data left as is)
    let (ev, st) = run(&[
        d(C, 0, snappy.clone()),
        d(S, 1, zlib_reply.clone()),
        d(C, 2, noop),
        d(S, 3, noop_reply),
        d(C, 4, zstd),
    ]);
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].method.as_deref(), Some("find"));
    assert_eq!(ev[0].resource.as_deref(), Some("shop.items"));
    assert_eq!(ev[0].request_bytes, Some(snappy.len() as u64));
    assert_eq!(ev[0].response_bytes, Some(zlib_reply.len() as u64));
    assert_eq!(mf(&ev[0])["compressor"], "zlib");
    assert_eq!(mf(&ev[1])["numberReturned"], 2);
    // zstd: header only, counted, unmatched at close.
    assert_eq!(ev[2].method.as_deref(), Some("msg"));
    assert!(ev[2].notes.iter().any(|n| n.contains("zstd")));
    assert_eq!(st.anomalies, 1);
}
