//! Errors with details, EVENT pushes, authentication and protocol v5.

use super::wire::*;
use super::*;

#[test]
fn errors_with_details() {
    let cases: Vec<(i32, Vec<u8>, &str, &str, Value)> = vec![
        (
            0x1000,
            W::new().short(4).int(2).int(1).done(),
            "errUnavailable",
            "required",
            2.into(),
        ),
        (
            0x1100,
            W::new().short(1).int(0).int(1).string("SIMPLE").done(),
            "errWriteTimeout",
            "write_type",
            "SIMPLE".into(),
        ),
        (
            0x1200,
            W::new().short(1).int(0).int(1).byte(1).done(),
            "errReadTimeout",
            "data_present",
            true.into(),
        ),
        (
            0x1300,
            W::new().short(1).int(0).int(1).int(2).byte(0).done(),
            "errReadFailure",
            "num_failures",
            2.into(),
        ),
        (
            0x1500,
            W::new()
                .short(1)
                .int(0)
                .int(1)
                .int(1)
                .string("BATCH")
                .done(),
            "errWriteFailure",
            "write_type",
            "BATCH".into(),
        ),
        (
            0x1400,
            W::new()
                .string("ks")
                .string("f")
                .string_list(&["int"])
                .done(),
            "errFunctionFailure",
            "function",
            "f".into(),
        ),
        (
            0x2400,
            W::new().string("shop").string("users").done(),
            "errAlreadyExists",
            "table",
            "users".into(),
        ),
    ];
    for (code, detail, ty, key, want) in cases {
        let (ev, st) = run(&[
            d(C, 0, req(7, op::QUERY, &query_body("X"))),
            d(S, 1, resp(7, op::ERROR, &error_body(code, "boom", detail))),
        ]);
        assert_eq!(st.anomalies, 0, "{ty}");
        assert_eq!(ev[0].status, Status::Error);
        let e = &cq(&ev[0])["response"]["error"];
        assert_eq!(e["type"], ty);
        assert_eq!(e["msg"], "boom");
        assert_eq!(e["details"][key], want, "{ty}");
    }
    let (ev, _) = run(&[
        d(C, 0, req(7, op::QUERY, &query_body("SELEC"))),
        d(
            S,
            1,
            resp(
                7,
                op::ERROR,
                &error_body(0x2000, "line 1:0 no viable alternative", vec![]),
            ),
        ),
    ]);
    assert_eq!(cq(&ev[0])["response"]["error"]["type"], "errSyntax");
    assert!(cq(&ev[0])["response"]["error"].get("details").is_none());
}

#[test]
fn event_pushes() {
    let topo = W::new()
        .string("TOPOLOGY_CHANGE")
        .string("NEW_NODE")
        .byte(4)
        .raw(&[10, 0, 0, 2])
        .int(9042)
        .done();
    let schema = W::new()
        .string("SCHEMA_CHANGE")
        .string("CREATED")
        .string("FUNCTION")
        .string("ks")
        .string("fn")
        .string_list(&["int", "text"])
        .done();
    let (ev, st) = run(&[
        d(S, 0, resp(-1, op::EVENT, &topo)),
        d(S, 1, resp(-1, op::EVENT, &schema)),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(st.unmatched_responses, 0);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].status, Status::Ok);
    assert!(ev[0].request_ts.is_none());
    assert_eq!(cq(&ev[0])["no_request"], true);
    assert_eq!(cq(&ev[0])["response"]["event"]["host"], "10.0.0.2");
    assert_eq!(cq(&ev[0])["response"]["event"]["port"], 9042);
    let sc = &cq(&ev[1])["response"]["event"]["schema_change"];
    assert_eq!(sc["target"], "FUNCTION");
    assert_eq!(sc["args"][1], "text");
}

#[test]
fn authentication_flow() {
    let (ev, st) = run(&[
        d(C, 0, startup(1, None)),
        d(
            S,
            1,
            resp(
                1,
                op::AUTHENTICATE,
                &W::new()
                    .string("org.apache.cassandra.auth.PasswordAuthenticator")
                    .done(),
            ),
        ),
        d(
            C,
            2,
            req(
                2,
                op::AUTH_RESPONSE,
                &W::new().bytes(b"\0user\0secret").done(),
            ),
        ),
        d(
            S,
            3,
            resp(2, op::AUTH_CHALLENGE, &W::new().bytes(b"nonce").done()),
        ),
        d(
            C,
            4,
            req(3, op::AUTH_RESPONSE, &W::new().bytes(b"proof").done()),
        ),
        d(S, 5, resp(3, op::AUTH_SUCCESS, &W::new().int(-1).done())),
        d(
            C,
            6,
            req(4, op::AUTH_RESPONSE, &W::new().bytes(b"\0user\0bad").done()),
        ),
        d(
            S,
            7,
            resp(
                4,
                op::ERROR,
                &error_body(
                    0x0100,
                    "Provided username user and/or password are incorrect",
                    vec![],
                ),
            ),
        ),
    ]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(ev.len(), 4);
    assert_eq!(
        cq(&ev[0])["response"]["authentication"]["class"],
        "org.apache.cassandra.auth.PasswordAuthenticator"
    );
    assert_eq!(
        cq(&ev[1])["response"]["authentication"]["data"],
        "\"nonce\""
    );
    assert_eq!(cq(&ev[2])["response"]["headers"]["op"], "AUTH_SUCCESS");
    assert_eq!(ev[3].status, Status::Error);
    assert_eq!(cq(&ev[3])["response"]["error"]["type"], "errCredentials");
    // The password is never copied.
    assert!(!serde_json::to_string(&ev[1].fields)
        .unwrap()
        .contains("secret"));
}

#[test]
fn v5_negotiation_detected_and_not_misparsed() {
    // A v4 server answers a v5 attempt with a protocol error in v4 framing.
    let beta = frame(0x05, 0x00, 0, op::OPTIONS, &[]);
    let perr = frame(
        0x84,
        0,
        0,
        op::ERROR,
        &error_body(
            0x000A,
            "Invalid or unsupported protocol version (5)",
            vec![],
        ),
    );
    let (ev, st) = run(&[d(C, 0, beta), d(S, 1, perr)]);
    assert_eq!(st.anomalies, 0);
    assert_eq!(cq(&ev[0])["request"]["headers"]["version"], "5");
    assert_eq!(cq(&ev[0])["response"]["error"]["type"], "errProtocol");
    // A v5 server accepts: after READY, v5 segments follow and are not parsed.
    let start = frame(
        0x05,
        0,
        1,
        op::STARTUP,
        &W::new().string_map(&[("CQL_VERSION", "3.0.0")]).done(),
    );
    let ready = frame(0x85, 0, 1, op::READY, &[]);
    let segment = vec![0x11, 0x00, 0x02, 0xAA, 0xBB, 0xCC, 0x04, 0x00, 0x00, 0x05];
    let (ev, st) = run(&[
        d(C, 0, start),
        d(S, 1, ready),
        d(C, 2, segment.clone()),
        d(S, 3, segment),
    ]);
    assert_eq!(ev.len(), 1);
    assert_eq!(cq(&ev[0])["response"]["headers"]["op"], "READY");
    assert_eq!(st.anomalies, 1);
}
