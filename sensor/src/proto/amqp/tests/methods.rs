//! Methods beyond the basic flows: returns, publisher confirms, rejects, transactions,
//! exchange and queue maintenance, recover.

use super::*;

#[test]
fn return_confirm_reject_nack() {
    let ret = cat(&[
        &method(
            1,
            60,
            50,
            &cat(&[
                &312u16.to_be_bytes(),
                &ss("NO_ROUTE"),
                &ss("ex"),
                &ss("nowhere"),
            ]),
        ),
        &header(1, 2, "text/plain"),
        &body(1, b"hi"),
    ]);
    let confirm = method(1, 85, 10, &[0]);
    let confirm_ok = method(1, 85, 11, &[]);
    let server_ack = method(1, 60, 80, &cat(&[&5u64.to_be_bytes(), &[1]]));
    let reject = method(1, 60, 90, &cat(&[&6u64.to_be_bytes(), &[1]]));
    let nack = method(1, 60, 120, &cat(&[&7u64.to_be_bytes(), &[3]]));
    let t = run(&[
        d(C, 0, confirm),
        d(S, 1, confirm_ok),
        d(S, 2, ret.clone()),
        d(S, 3, server_ack),
        d(C, 4, cat(&[&reject, &nack])),
    ]);
    let names: Vec<_> = t.iter().map(|t| t.method.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "confirm.select",
            "basic.return",
            "basic.ack",
            "basic.reject",
            "basic.nack"
        ]
    );
    assert_eq!(t[1].status, Status::Ok);
    assert_eq!(t[1].client, meta().server);
    assert_eq!(t[1].request_bytes, Some(ret.len() as u64));
    assert_eq!(amqp(&t[1])["reply-code"], 312);
    assert_eq!(amqp(&t[1])["routing-key"], "nowhere");
    assert_eq!(t[2].client, meta().server);
    assert_eq!(amqp(&t[2])["multiple"], true);
    assert_eq!(amqp(&t[3])["requeue"], true);
    assert_eq!(amqp(&t[4])["multiple"], true);
    assert_eq!(amqp(&t[4])["requeue"], true);
    assert!(t.iter().all(|t| t.status == Status::Ok));
}

#[test]
fn tx_exchange_queue_maintenance() {
    let xdecl = method(
        1,
        40,
        10,
        &cat(&[
            &[0, 0],
            &ss("logs"),
            &ss(""),
            &[0b10],
            &ls(&cat(&[&ss("alternate-exchange"), b"S", &ls(b"ae")])),
        ]),
    );
    let xdel = method(1, 40, 20, &cat(&[&[0, 0], &ss("logs"), &[1]]));
    let xbind = method(
        1,
        40,
        30,
        &cat(&[&[0, 0], &ss("dst"), &ss("src"), &ss("rk"), &[0], &ls(&[])]),
    );
    let xunbind = method(
        1,
        40,
        40,
        &cat(&[&[0, 0], &ss("dst"), &ss("src"), &ss("rk"), &[0], &ls(&[])]),
    );
    let purge = method(1, 50, 30, &cat(&[&[0, 0], &ss("q"), &[0]]));
    let qdel = method(1, 50, 40, &cat(&[&[0, 0], &ss("q"), &[0b011]]));
    let unbind = method(
        1,
        50,
        50,
        &cat(&[&[0, 0], &ss("q"), &ss("ex"), &ss("rk"), &ls(&[])]),
    );
    let recover = method(1, 60, 110, &[1]);
    let t = run(&[
        d(C, 0, method(1, 90, 10, &[])),
        d(S, 1, method(1, 90, 11, &[])),
        d(C, 2, xdecl),
        d(S, 3, method(1, 40, 11, &[])),
        d(C, 4, xdel),
        d(S, 5, method(1, 40, 21, &[])),
        d(C, 6, xbind),
        d(S, 7, method(1, 40, 31, &[])),
        d(C, 8, xunbind),
        d(S, 9, method(1, 40, 51, &[])),
        d(C, 10, purge),
        d(S, 11, method(1, 50, 31, &9u32.to_be_bytes())),
        d(C, 12, qdel),
        d(S, 13, method(1, 50, 41, &0u32.to_be_bytes())),
        d(C, 14, unbind),
        d(S, 15, method(1, 50, 51, &[])),
        d(C, 16, recover),
        d(S, 17, method(1, 60, 111, &[])),
        d(C, 18, method(1, 90, 20, &[])),
        d(S, 19, method(1, 90, 21, &[])),
        d(C, 20, method(1, 90, 30, &[])),
        d(S, 21, method(1, 90, 31, &[])),
    ]);
    let names: Vec<_> = t.iter().map(|t| t.method.clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "tx.select",
            "exchange.declare",
            "exchange.delete",
            "exchange.bind",
            "exchange.unbind",
            "queue.purge",
            "queue.delete",
            "queue.unbind",
            "basic.recover",
            "tx.commit",
            "tx.rollback"
        ]
    );
    assert!(t.iter().all(|t| t.response_bytes.is_some()));
    assert_eq!(amqp(&t[1])["exchange-type"], "direct");
    assert_eq!(amqp(&t[1])["durable"], true);
    assert_eq!(amqp(&t[1])["arguments"]["alternate-exchange"], "ae");
    assert_eq!(amqp(&t[2])["if-unused"], true);
    assert_eq!(amqp(&t[3])["source"], "src");
    assert_eq!(amqp(&t[5])["message-count"], 9);
    assert_eq!(amqp(&t[6])["if-empty"], true);
    assert_eq!(amqp(&t[7])["exchange"], "ex");
    assert_eq!(amqp(&t[8])["requeue"], true);
    // parse_arguments: false leaves the table out.
    let cfg = Config {
        parse_arguments: false,
        parse_headers: false,
        ..Config::default()
    };
    let x = method(
        1,
        40,
        10,
        &cat(&[
            &[0, 0],
            &ss("logs"),
            &ss("topic"),
            &[0],
            &ls(&cat(&[&ss("a"), b"S", &ls(b"b")])),
        ]),
    );
    let pubm = cat(&[&publish(1, "", "q"), &header(1, 0, "text/plain")]);
    let t = run_with(
        &cfg,
        &CommonConfig::default(),
        &[d(C, 0, x), d(S, 1, method(1, 40, 11, &[])), d(C, 2, pubm)],
    );
    assert!(amqp(&t[0]).get("arguments").is_none());
    assert!(amqp(&t[1]).get("content-type").is_none());
}
