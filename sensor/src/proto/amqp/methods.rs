//! The AMQP 0-9-1 method table: every method's name, correlation role and argument list (from
//! the spec, plus RabbitMQ's extensions), and the argument decoder driven by it.

use serde_json::{Map, Value};

use super::parse::{table, text, Cur};

/// One argument of a method, as listed in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    Octet(&'static str),
    Short(&'static str),
    Long(&'static str),
    LongLong(&'static str),
    ShortStr(&'static str),
    LongStr(&'static str),
    /// Consecutive bits packed into one octet, low bit first.
    Bits(&'static [&'static str]),
    /// A field table; `arguments` only with `parse_arguments`.
    Table(&'static str),
}

use Arg::{Bits, Long, LongLong, LongStr, Octet, Short, ShortStr, Table};

/// Arguments whose name starts with `_` are read and dropped (reserved fields, credentials).
const CLOSE: &[Arg] = &[
    Short("reply-code"),
    ShortStr("reply-text"),
    Short("class-id"),
    Short("method-id"),
];

/// What a method is, for correlation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Expects a reply method (`-ok`).
    Sync,
    /// Never answered (publish, deliver, ack, ...).
    Async,
    /// A reply to a synchronous method.
    Reply,
    /// `channel.close` / `connection.close`.
    Close,
    /// `channel.close-ok` / `connection.close-ok`.
    CloseOk,
}

/// Static description of a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodDef {
    /// `class.method`.
    pub name: &'static str,
    /// Role in correlation.
    pub role: Role,
    /// Followed by a content header and bodies.
    pub content: bool,
    args: &'static [Arg],
}

const fn m(name: &'static str, role: Role, args: &'static [Arg]) -> MethodDef {
    MethodDef {
        name,
        role,
        content: false,
        args,
    }
}

const fn mc(name: &'static str, role: Role, args: &'static [Arg]) -> MethodDef {
    MethodDef {
        name,
        role,
        content: true,
        args,
    }
}

/// The definition of method `(class, method)`.
pub fn method_def(class: u16, method: u16) -> Option<MethodDef> {
    use Role::{Async, Reply, Sync};
    let d = match (class, method) {
        (10, 10) => m(
            "connection.start",
            Sync,
            &[
                Octet("version-major"),
                Octet("version-minor"),
                Table("server-properties"),
                LongStr("mechanisms"),
                LongStr("locales"),
            ],
        ),
        (10, 11) => m(
            "connection.start-ok",
            Reply,
            &[
                Table("client-properties"),
                ShortStr("mechanism"),
                LongStr("_response"),
                ShortStr("locale"),
            ],
        ),
        (10, 20) => m("connection.secure", Sync, &[LongStr("_challenge")]),
        (10, 21) => m("connection.secure-ok", Reply, &[LongStr("_response")]),
        (10, 30) => m(
            "connection.tune",
            Sync,
            &[Short("channel-max"), Long("frame-max"), Short("heartbeat")],
        ),
        (10, 31) => m(
            "connection.tune-ok",
            Reply,
            &[Short("channel-max"), Long("frame-max"), Short("heartbeat")],
        ),
        (10, 40) => m(
            "connection.open",
            Sync,
            &[ShortStr("virtual-host"), ShortStr("_r1"), Bits(&["_r2"])],
        ),
        (10, 41) => m("connection.open-ok", Reply, &[ShortStr("_r1")]),
        (10, 50) => m("connection.close", Role::Close, CLOSE),
        (10, 51) => m("connection.close-ok", Role::CloseOk, &[]),
        (10, 60) => m("connection.blocked", Async, &[ShortStr("reason")]),
        (10, 61) => m("connection.unblocked", Async, &[]),
        (10, 70) => m(
            "connection.update-secret",
            Sync,
            &[LongStr("_secret"), ShortStr("reason")],
        ),
        (10, 71) => m("connection.update-secret-ok", Reply, &[]),
        (20, 10) => m("channel.open", Sync, &[ShortStr("_r1")]),
        (20, 11) => m("channel.open-ok", Reply, &[LongStr("_r1")]),
        (20, 20) => m("channel.flow", Sync, &[Bits(&["active"])]),
        (20, 21) => m("channel.flow-ok", Reply, &[Bits(&["active"])]),
        (20, 40) => m("channel.close", Role::Close, CLOSE),
        (20, 41) => m("channel.close-ok", Role::CloseOk, &[]),
        (40, 10) => m(
            "exchange.declare",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                ShortStr("exchange-type"),
                Bits(&["passive", "durable", "auto-delete", "internal", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (40, 11) => m("exchange.declare-ok", Reply, &[]),
        (40, 20) => m(
            "exchange.delete",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                Bits(&["if-unused", "no-wait"]),
            ],
        ),
        (40, 21) => m("exchange.delete-ok", Reply, &[]),
        (40, 30) | (40, 40) => m(
            if method == 30 {
                "exchange.bind"
            } else {
                "exchange.unbind"
            },
            Sync,
            &[
                Short("_ticket"),
                ShortStr("destination"),
                ShortStr("source"),
                ShortStr("routing-key"),
                Bits(&["no-wait"]),
                Table("arguments"),
            ],
        ),
        (40, 31) => m("exchange.bind-ok", Reply, &[]),
        (40, 51) => m("exchange.unbind-ok", Reply, &[]),
        (50, 10) => m(
            "queue.declare",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                Bits(&["passive", "durable", "exclusive", "auto-delete", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (50, 11) => m(
            "queue.declare-ok",
            Reply,
            &[
                ShortStr("queue"),
                Long("message-count"),
                Long("consumer-count"),
            ],
        ),
        (50, 20) => m(
            "queue.bind",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Bits(&["no-wait"]),
                Table("arguments"),
            ],
        ),
        (50, 21) => m("queue.bind-ok", Reply, &[]),
        (50, 30) => m(
            "queue.purge",
            Sync,
            &[Short("_ticket"), ShortStr("queue"), Bits(&["no-wait"])],
        ),
        (50, 31) => m("queue.purge-ok", Reply, &[Long("message-count")]),
        (50, 40) => m(
            "queue.delete",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                Bits(&["if-unused", "if-empty", "no-wait"]),
            ],
        ),
        (50, 41) => m("queue.delete-ok", Reply, &[Long("message-count")]),
        (50, 50) => m(
            "queue.unbind",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Table("arguments"),
            ],
        ),
        (50, 51) => m("queue.unbind-ok", Reply, &[]),
        (60, 10) => m(
            "basic.qos",
            Sync,
            &[
                Long("prefetch-size"),
                Short("prefetch-count"),
                Bits(&["global"]),
            ],
        ),
        (60, 11) => m("basic.qos-ok", Reply, &[]),
        (60, 20) => m(
            "basic.consume",
            Sync,
            &[
                Short("_ticket"),
                ShortStr("queue"),
                ShortStr("consumer-tag"),
                Bits(&["no-local", "no-ack", "exclusive", "no-wait"]),
                Table("arguments"),
            ],
        ),
        (60, 21) => m("basic.consume-ok", Reply, &[ShortStr("consumer-tag")]),
        (60, 30) => m(
            "basic.cancel",
            Sync,
            &[ShortStr("consumer-tag"), Bits(&["no-wait"])],
        ),
        (60, 31) => m("basic.cancel-ok", Reply, &[ShortStr("consumer-tag")]),
        (60, 40) => mc(
            "basic.publish",
            Async,
            &[
                Short("_ticket"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Bits(&["mandatory", "immediate"]),
            ],
        ),
        (60, 50) => mc(
            "basic.return",
            Async,
            &[
                Short("reply-code"),
                ShortStr("reply-text"),
                ShortStr("exchange"),
                ShortStr("routing-key"),
            ],
        ),
        (60, 60) => mc(
            "basic.deliver",
            Async,
            &[
                ShortStr("consumer-tag"),
                LongLong("delivery-tag"),
                Bits(&["redelivered"]),
                ShortStr("exchange"),
                ShortStr("routing-key"),
            ],
        ),
        (60, 70) => m(
            "basic.get",
            Sync,
            &[Short("_ticket"), ShortStr("queue"), Bits(&["no-ack"])],
        ),
        (60, 71) => mc(
            "basic.get-ok",
            Reply,
            &[
                LongLong("delivery-tag"),
                Bits(&["redelivered"]),
                ShortStr("exchange"),
                ShortStr("routing-key"),
                Long("message-count"),
            ],
        ),
        (60, 72) => m("basic.get-empty", Reply, &[ShortStr("_cluster-id")]),
        (60, 80) => m(
            "basic.ack",
            Async,
            &[LongLong("delivery-tag"), Bits(&["multiple"])],
        ),
        (60, 90) => m(
            "basic.reject",
            Async,
            &[LongLong("delivery-tag"), Bits(&["requeue"])],
        ),
        (60, 100) => m("basic.recover-async", Async, &[Bits(&["requeue"])]),
        (60, 110) => m("basic.recover", Sync, &[Bits(&["requeue"])]),
        (60, 111) => m("basic.recover-ok", Reply, &[]),
        (60, 120) => m(
            "basic.nack",
            Async,
            &[LongLong("delivery-tag"), Bits(&["multiple", "requeue"])],
        ),
        (85, 10) => m("confirm.select", Sync, &[Bits(&["no-wait"])]),
        (85, 11) => m("confirm.select-ok", Reply, &[]),
        (90, 10) => m("tx.select", Sync, &[]),
        (90, 11) => m("tx.select-ok", Reply, &[]),
        (90, 20) => m("tx.commit", Sync, &[]),
        (90, 21) => m("tx.commit-ok", Reply, &[]),
        (90, 30) => m("tx.rollback", Sync, &[]),
        (90, 31) => m("tx.rollback-ok", Reply, &[]),
        _ => return None,
    };
    Some(d)
}

/// Is `(rc, rm)` a reply to the synchronous method `(class, method)`?
pub fn answers(class: u16, method: u16, rc: u16, rm: u16) -> bool {
    if rc != class {
        return false;
    }
    match (class, method) {
        (60, 70) => rm == 71 || rm == 72,
        (40, 40) => rm == 51,
        _ => rm == method.saturating_add(1),
    }
}

/// Decoded arguments of a method frame.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Argument fields (Packetbeat names).
    pub fields: Map<String, Value>,
    /// `reply-code` of close/return methods.
    pub reply_code: Option<u16>,
    /// `no-wait` bit set.
    pub no_wait: bool,
    /// An argument table could not be decoded.
    pub bad_table: bool,
}

/// Decode the arguments of `def` from a method payload (after class/method ids). `None` when
/// the payload is shorter than the argument list.
pub fn decode_args(def: &MethodDef, payload: &[u8], parse_arguments: bool) -> Option<Decoded> {
    let mut c = Cur::new(payload);
    let mut out = Decoded::default();
    fn put(k: &'static str, v: Value, out: &mut Decoded) {
        if !k.starts_with('_') {
            out.fields.insert(k.to_owned(), v);
        }
    }
    for arg in def.args {
        match *arg {
            Octet(k) => put(k, c.u8()?.into(), &mut out),
            Short(k) => {
                let v = c.u16()?;
                if k == "reply-code" {
                    out.reply_code = Some(v);
                }
                put(k, v.into(), &mut out);
            }
            Long(k) => put(k, c.u32()?.into(), &mut out),
            LongLong(k) => put(k, c.u64()?.into(), &mut out),
            ShortStr(k) => {
                let s = text(c.short_bytes()?);
                if k == "exchange" && s.is_empty() {
                    continue; // the default exchange: left out, as Packetbeat does
                }
                let s = if k == "exchange-type" && s.is_empty() {
                    "direct".to_owned()
                } else {
                    s
                };
                put(k, s.into(), &mut out);
            }
            LongStr(k) => {
                let b = c.long_bytes()?;
                put(k, text(b).into(), &mut out);
            }
            Bits(names) => {
                let bits = c.u8()?;
                for (i, k) in names.iter().enumerate() {
                    let on = bits >> i & 1 == 1;
                    if *k == "no-wait" && on {
                        out.no_wait = true;
                    }
                    put(k, on.into(), &mut out);
                }
            }
            Table(k) => {
                if c.rest().is_empty() {
                    continue; // some senders leave a trailing empty table out
                }
                let b = c.long_bytes()?;
                if k == "arguments" && !parse_arguments {
                    continue;
                }
                match table(b, 0) {
                    Some(t) if !t.is_empty() => put(k, Value::Object(t), &mut out),
                    Some(_) => {}
                    None => out.bad_table = true,
                }
            }
        }
    }
    Some(out)
}
