//! SIP unit tests with hand-built messages.

use rand::{Rng, SeedableRng};
use serde_json::json;

use super::*;
use crate::config::CommonConfig;
use crate::proto::{ConnMeta, ProtoStats, Txn};

const INVITE: &str = "INVITE sip:bob@biloxi.example.com:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5070;branch=z9hG4bK776asdhds;received=10.0.0.1;rport=5071\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice A\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=TCP;line=7>;expires=60;q=0.5\r\n\
Allow: INVITE, ACK, BYE\r\n\
Supported: Replaces, timer\r\n\
User-Agent: test-ua\r\n\
Authorization: Digest username=\"alice\", realm=\"atlanta.example.com\", uri=\"sip:bob@biloxi.example.com:5060\", response=\"x\"\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 147\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 10.0.0.1\r\n\
s=call\r\n\
c=IN IP4 10.0.0.1\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=sendrecv\r\n";

const BUSY: &str = "SIP/2.0 486 Busy Here\r\n\
v: SIP/2.0/UDP pc33.atlanta.example.com:5070;branch=z9hG4bK776asdhds\r\n\
t: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
f: \"Alice A\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
l: 0\r\n\
\r\n";

struct H {
    d: Sip,
    meta: ConnMeta,
    common: CommonConfig,
    stats: ProtoStats,
    out: Vec<Txn>,
    bufs: [Vec<u8>; 2],
}

impl H {
    fn new(l4: L4) -> H {
        H {
            d: Sip::new(&Config::default()),
            meta: ConnMeta {
                client: "10.0.0.1:5070".parse().unwrap(),
                server: "10.0.0.2:5060".parse().unwrap(),
                l4,
                vlan: vec![],
            },
            common: CommonConfig::default(),
            stats: ProtoStats::default(),
            out: Vec::new(),
            bufs: [Vec::new(), Vec::new()],
        }
    }

    fn feed(&mut self, ts: u64, dir: Direction, data: &[u8]) -> Progress {
        let i = dir.index();
        let mut buf = std::mem::take(&mut self.bufs[i]);
        buf.extend_from_slice(data);
        let mut cx = Cx {
            ts: Ts(ts),
            meta: &self.meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        let p = self.d.parse(&mut cx, dir, &buf);
        match p {
            Progress::Consumed => buf.clear(),
            Progress::NeedMore { consumed, .. } => {
                buf.drain(..consumed);
            }
            Progress::GiveUp(_) => buf.clear(),
        }
        self.bufs[i] = buf;
        p
    }

    fn gap(&mut self, dir: Direction, len: usize) {
        self.bufs[dir.index()].clear();
        let mut cx = Cx {
            ts: Ts(0),
            meta: &self.meta,
            common: &self.common,
            stats: &mut self.stats,
            out: &mut self.out,
        };
        self.d.on_gap(&mut cx, dir, len);
    }
}

#[test]
fn udp_request_fields() {
    let mut h = H::new(L4::Udp);
    h.feed(5, Direction::ToServer, INVITE.as_bytes());
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.kind, TxnKind::Message { from_client: true });
    assert_eq!(t.status, Status::Ok);
    assert_eq!(t.method.as_deref(), Some("INVITE"));
    assert_eq!(t.request_bytes, Some(INVITE.len() as u64));
    assert_eq!(t.request_ts, Some(Ts(5)));
    let s = &t.fields["sip"];
    assert_eq!(s["type"], "request");
    assert_eq!(s["method"], "INVITE");
    assert_eq!(s["version"], "2.0");
    assert_eq!(
        s["uri"],
        json!({"original": "sip:bob@biloxi.example.com:5060", "scheme": "sip",
               "username": "bob", "host": "biloxi.example.com", "port": 5060})
    );
    assert_eq!(s["call_id"], "a84b4c76e66710@pc33.atlanta.example.com");
    assert_eq!(s["cseq"], json!({"code": 314159, "method": "INVITE"}));
    assert_eq!(s["max_forwards"], 70);
    assert_eq!(s["content_length"], 147);
    assert_eq!(s["content_type"], "application/sdp");
    assert_eq!(s["user_agent"], "test-ua");
    assert_eq!(s["allow"], json!(["invite", "ack", "bye"]));
    assert_eq!(s["supported"], json!(["replaces", "timer"]));
    assert_eq!(s["from"]["display_info"], "Alice A");
    assert_eq!(s["from"]["tag"], "1928301774");
    assert_eq!(s["from"]["uri"]["username"], "alice");
    assert_eq!(s["to"]["display_info"], "Bob");
    assert!(s["to"].get("tag").is_none());
    assert_eq!(s["contact"]["transport"], "tcp");
    assert_eq!(s["contact"]["line"], "7");
    assert_eq!(s["contact"]["expires"], 60);
    assert_eq!(s["contact"]["q"], 0.5);
    assert_eq!(s["via"]["transport"], "udp");
    assert_eq!(s["via"]["sent_by"]["address"], "pc33.atlanta.example.com");
    assert_eq!(s["via"]["sent_by"]["port"], "5070");
    assert_eq!(s["via"]["received"]["address"], "10.0.0.1");
    assert_eq!(s["via"]["port"], 5071);
    assert_eq!(s["via"]["branch"], "z9hG4bK776asdhds");
    assert_eq!(s["auth"]["scheme"], "Digest");
    assert_eq!(s["auth"]["realm"], "atlanta.example.com");
    assert_eq!(s["auth"]["uri"]["host"], "biloxi.example.com");
    assert_eq!(t.fields["user"]["name"], "alice");
    let sdp = &s["sdp"];
    assert_eq!(sdp["version"], "0");
    assert_eq!(sdp["owner"]["username"], "alice");
    assert_eq!(sdp["owner"]["session_id"], "2890844526");
    assert_eq!(sdp["owner"]["ip"], "10.0.0.1");
    assert_eq!(sdp["session"]["name"], "call");
    assert_eq!(sdp["connection"]["address"], "10.0.0.1");
    assert_eq!(sdp["media"]["port"], 49170);
    assert_eq!(sdp["media"]["format"], json!(["0", "8"]));
    assert_eq!(
        sdp["media"]["attributes"],
        json!(["rtpmap:0 PCMU/8000", "sendrecv"])
    );
    assert_eq!(t.fields["event"]["action"], "sip-invite");
    assert_eq!(t.fields["event"]["sequence"], 314159);
    assert_eq!(t.fields["event"]["original"], INVITE);
}

#[test]
fn udp_response_compact_and_retransmission() {
    let mut h = H::new(L4::Udp);
    h.feed(5, Direction::ToClient, BUSY.as_bytes());
    // The same response again (retransmission): not published twice.
    h.feed(6, Direction::ToClient, BUSY.as_bytes());
    assert_eq!(h.out.len(), 1);
    let t = &h.out[0];
    assert_eq!(t.kind, TxnKind::Message { from_client: false });
    assert_eq!(t.client, h.meta.client);
    assert_eq!(t.status, Status::Error);
    let s = &t.fields["sip"];
    assert_eq!(s["type"], "response");
    assert_eq!(s["code"], 486);
    assert_eq!(s["status"], "Busy Here");
    assert_eq!(s["call_id"], "a84b4c76e66710@pc33.atlanta.example.com");
    assert_eq!(s["to"]["tag"], "a6c85cf");
    assert_eq!(s["content_length"], 0);
    assert_eq!(t.fields["event"]["outcome"], "failure");
    // After the transaction timeout it is new again.
    let later = 6 + h.common.transaction_timeout.as_nanos() as u64;
    h.feed(later, Direction::ToClient, BUSY.as_bytes());
    assert_eq!(h.out.len(), 2);
    // A request sent by the server side: it is the client of that message.
    let bye = "BYE sip:a@h SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n";
    h.feed(later, Direction::ToClient, bye.as_bytes());
    assert_eq!(h.out[2].client, h.meta.server);
    assert_eq!(h.out[2].kind, TxnKind::Message { from_client: true });
}

fn tcp_events(chunks: &[Vec<u8>]) -> Vec<(Option<u64>, Option<Ts>, serde_json::Value)> {
    let mut h = H::new(L4::Tcp);
    for (i, c) in chunks.iter().enumerate() {
        h.feed(i as u64, Direction::ToServer, c);
    }
    h.out
        .iter()
        .map(|t| (t.request_bytes, t.request_ts, t.fields["sip"].clone()))
        .collect()
}

#[test]
fn tcp_framing_and_splits() {
    let mut stream = Vec::new();
    stream.extend_from_slice(b"\r\n\r\n");
    stream.extend_from_slice(INVITE.as_bytes());
    stream.extend_from_slice(b"ACK sip:bob@b SIP/2.0\r\nCall-ID: c\r\nCSeq: 1 ACK\r\n\r\n");
    stream.extend_from_slice(BUSY.as_bytes());
    let whole = tcp_events(&[stream.clone()]);
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[0].0, Some(INVITE.len() as u64));
    assert_eq!(whole[1].2["method"], "ACK");
    assert_eq!(whole[2].2["code"], 486);
    let strip = |v: Vec<(Option<u64>, Option<Ts>, serde_json::Value)>| {
        v.into_iter().map(|(b, _, s)| (b, s)).collect::<Vec<_>>()
    };
    let bytes: Vec<Vec<u8>> = stream.iter().map(|&b| vec![b]).collect();
    let one = tcp_events(&bytes);
    assert_eq!(strip(one.clone()), strip(whole.clone()));
    // The timestamp is the first byte's packet.
    assert_eq!(one[0].1, Some(Ts(4)));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    for _ in 0..50 {
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < stream.len() {
            let n = rng.random_range(1..120).min(stream.len() - i);
            chunks.push(stream[i..i + n].to_vec());
            i += n;
        }
        assert_eq!(strip(tcp_events(&chunks)), strip(whole.clone()));
    }
}

#[test]
fn tcp_large_body_garbage_and_gap() {
    let mut h = H::new(L4::Tcp);
    let big = MAX_BODY + 10;
    let head = format!(
        "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: m\r\nCSeq: 1 MESSAGE\r\nContent-Length: {big}\r\n\r\n"
    );
    h.feed(1, Direction::ToServer, head.as_bytes());
    for _ in 0..(big / 1000) {
        h.feed(2, Direction::ToServer, &[b'x'; 1000]);
    }
    h.feed(3, Direction::ToServer, &vec![b'y'; big % 1000]);
    h.feed(4, Direction::ToServer, BUSY.as_bytes());
    assert_eq!(h.out.len(), 2);
    assert_eq!(h.out[0].request_bytes, Some((head.len() + big) as u64));
    assert_eq!(h.out[0].notes, vec![NOTE_BODY_SKIPPED.to_owned()]);
    assert_eq!(h.out[1].fields["sip"]["code"], 486);
    // Garbage, then a message: resynchronised on the start line.
    h.feed(5, Direction::ToClient, b"\x00\x01garbage line\r\nmore\r\n");
    h.feed(6, Direction::ToClient, BUSY.as_bytes());
    assert_eq!(h.out.len(), 3);
    // A gap in the middle of a message: the next message is found.
    h.feed(7, Direction::ToServer, &INVITE.as_bytes()[..100]);
    h.gap(Direction::ToServer, 50);
    let mut tail = INVITE.as_bytes()[200..].to_vec();
    tail.extend_from_slice(BUSY.as_bytes());
    h.feed(8, Direction::ToServer, &tail);
    assert_eq!(h.out.len(), 4);
    assert_eq!(h.out[3].fields["sip"]["code"], 486);
}

#[test]
fn values() {
    let u = values::uri("sips:user:pw@[2001:db8::1]:5061;transport=tls?subject=x");
    assert_eq!(u.scheme, "sips");
    assert_eq!(u.username, Some("user"));
    assert_eq!(u.host, "[2001:db8::1]");
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.param("transport"), Some("tls"));
    let u = values::uri("tel:+1-201-555-0123");
    assert_eq!(u.scheme, "tel");
    assert_eq!(u.host, "+1-201-555-0123");
    let na = values::name_addr("sip:carol@chicago.com;tag=99");
    assert_eq!(na.uri, "sip:carol@chicago.com");
    assert_eq!(na.param("tag"), Some("99"));
    assert_eq!(
        values::first_element("\"A, B\" <sip:a@b>;q=1, <sip:c@d>"),
        "\"A, B\" <sip:a@b>;q=1"
    );
    let v = values::via("SIP/2.0/TCP [::1]:5060;branch=z9;rport").unwrap();
    assert_eq!(v.transport, "TCP");
    assert_eq!(v.host, "[::1]");
    assert_eq!(v.port, Some("5060"));
    assert_eq!(v.rport, None);
    let d = values::sdp("v=0\r\nt=3034423619 3042462419\r\n");
    assert_eq!(d.start, Some(3034423619 - 2_208_988_800));
    // Folded header lines are joined.
    let m =
        parse::Message::parse(b"OPTIONS sip:a SIP/2.0\r\nSubject: one\r\n two\r\n\r\n").unwrap();
    assert_eq!(ecs::text(m.first("subject").unwrap()), "one two");
}

#[test]
fn probe_and_malformed() {
    assert_eq!(
        Sip::probe(Direction::ToServer, INVITE.as_bytes()),
        Probe::Match
    );
    assert_eq!(
        Sip::probe(Direction::ToClient, BUSY.as_bytes()),
        Probe::Match
    );
    assert_eq!(Sip::probe(Direction::ToServer, b"INVI"), Probe::Unsure);
    assert_eq!(
        Sip::probe(Direction::ToServer, b"\x16\x03\x01\x02"),
        Probe::NotMine
    );
    let mut h = H::new(L4::Udp);
    h.feed(1, Direction::ToServer, b"hello world\r\n\r\n");
    assert!(h.out.is_empty());
    assert_eq!(h.stats.anomalies, 1);
    // Headers without the empty line: published with a note.
    h.feed(
        2,
        Direction::ToServer,
        b"OPTIONS sip:a SIP/2.0\r\nCall-ID: q\r\n",
    );
    assert_eq!(h.out[0].notes, vec![NOTE_UNTERMINATED.to_owned()]);
}

#[test]
fn robustness() {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
    let base = [INVITE.as_bytes(), BUSY.as_bytes()].concat();
    for _ in 0..1500 {
        let mut b = base.clone();
        for _ in 0..rng.random_range(0..10) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        let cut = rng.random_range(0..=b.len());
        let mut h = H::new(if rng.random::<bool>() {
            L4::Tcp
        } else {
            L4::Udp
        });
        let mut i = 0;
        while i < cut {
            let n = rng.random_range(1..200).min(cut - i);
            h.feed(1, Direction::ToServer, &b[i..i + n]);
            i += n;
        }
        let noise: Vec<u8> = (0..rng.random_range(0..300))
            .map(|_| rng.random())
            .collect();
        h.feed(2, Direction::ToClient, &noise);
    }
}
