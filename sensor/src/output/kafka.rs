//! The Kafka sink: rdkafka idempotent producer + bounded in-memory queue + bounded disk spool.
//!
//! Delivery model (at-least-once):
//! * `write` routes the event (topic, key) and hands it to librdkafka. Queued events never
//!   expire (`message.timeout.ms = 0`): while the broker is away they wait and are retried by
//!   librdkafka, in order, without duplicates (idempotent producer).
//! * The queue is bounded (`queue.max_messages`/`max_kbytes`). When it is full, `write` waits for
//!   room while deliveries make progress (backpressure). When nothing was delivered for
//!   [`STALL`], the broker is considered unreachable: the event and every later one go to the
//!   spool (no waiting) until the spool has been replayed into the queue, in order.
//! * `flush` (end of replay, shutdown) delivers the spool and the queue while there is
//!   progress; after `flush_timeout` without progress it purges the queue and writes those events
//!   back in front of the spool. The next start replays the spool first.
//! * Duplicates: an event purged while in flight (sent, ack not yet received) may have reached the
//!   broker and is sent again later. These are counted as `resent`; that count bounds the
//!   duplicates. Idempotence removes duplicates from librdkafka's own retries.
//! * A crash (SIGKILL) loses the in-memory queue and up to one second of buffered spool writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::statistics::Statistics;

use super::kafka_config::{KafkaConfig, Partitioning};
use super::route::{Route, Scratch};
use super::spool::{OwnedRec, Rec, Spool};
use super::OutputStats;

/// No delivery progress for this long while the queue is full = broker unreachable: spool.
const STALL: Duration = Duration::from_secs(1);
/// Sleep between retries while waiting for room in a full queue.
const QUEUE_FULL_SLEEP: Duration = Duration::from_millis(1);
/// While spooling, try to move spooled events into the queue at least this often ...
const DRAIN_INTERVAL: Duration = Duration::from_millis(50);
/// ... or after this many writes, whichever comes first.
const DRAIN_EVERY: u32 = 1024;
/// Counters are copied into `OutputStats` after this many writes (and on every flush).
const STATS_EVERY: u32 = 1024;
/// The same error is printed at most this often (the count is kept).
const LOG_EVERY: Duration = Duration::from_secs(10);
/// After a purge, how long to wait for librdkafka to hand back the purged events.
const PURGE_WAIT: Duration = Duration::from_secs(5);
/// Wait step in `flush`.
const FLUSH_STEP: Duration = Duration::from_millis(10);

/// State shared with librdkafka's callbacks (its polling thread); it outlives a producer that
/// is replaced after a fatal error, so the counters are cumulative.
struct Shared {
    acked: AtomicU64,
    failed: AtomicU64,
    resent: AtomicU64,
    progress: AtomicU64,
    retries: AtomicU64,
    rtt_us: AtomicU64,
    errors: AtomicU64,
    auth_failed: AtomicBool,
    all_down: AtomicBool,
    fatal: AtomicBool,
    /// Retriable failures (purged or given up): to be spooled. Bounded by the queue size since
    /// each queued event fails at most once.
    back: Mutex<Vec<OwnedRec>>,
    /// Partition counts per topic (round_robin), from statistics.
    partitions: Mutex<HashMap<String, i32>>,
    last_log: Mutex<HashMap<String, Instant>>,
}

/// The librdkafka context: a handle on [`Shared`].
struct Ctx(Arc<Shared>);

impl Shared {
    fn new() -> Shared {
        Shared {
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            resent: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rtt_us: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            auth_failed: AtomicBool::new(false),
            all_down: AtomicBool::new(false),
            fatal: AtomicBool::new(false),
            back: Mutex::new(Vec::new()),
            partitions: Mutex::new(HashMap::new()),
            last_log: Mutex::new(HashMap::new()),
        }
    }

    /// Print `msg` unless the same `what` was printed within LOG_EVERY.
    fn log(&self, what: &str, msg: &str) {
        let now = Instant::now();
        let Ok(mut m) = self.last_log.lock() else {
            return;
        };
        if m.get(what)
            .is_some_and(|t| now.duration_since(*t) < LOG_EVERY)
        {
            return;
        }
        m.insert(what.to_owned(), now);
        eprintln!("sensor: kafka: {msg}");
    }
}

/// Errors for which sending again cannot help: counted as failed and dropped. (An unknown topic
/// is not one of them: it may be created later; those events are kept in the spool.)
fn permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidMessage
            | C::InvalidRecord
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::InvalidTopic
            | C::InvalidRequiredAcks
            | C::BadMessage
    )
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, msg: &str) {
        let s = &self.0;
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
        ) {
            s.log(&format!("log-{fac}"), &format!("librdkafka {fac}: {msg}"));
        }
    }

    fn stats(&self, s: Statistics) {
        let sh = &self.0;
        let mut rtt_sum = 0i64;
        let mut rtt_n = 0i64;
        let mut retries = 0u64;
        for b in s.brokers.values() {
            retries += b.txretries;
            if let Some(w) = &b.rtt {
                if w.cnt > 0 {
                    rtt_sum += w.avg;
                    rtt_n += 1;
                }
            }
        }
        if rtt_n > 0 {
            sh.rtt_us.store(
                u64::try_from(rtt_sum / rtt_n).unwrap_or(0),
                Ordering::Relaxed,
            );
        }
        sh.retries.store(retries, Ordering::Relaxed);
        if let Ok(mut p) = sh.partitions.lock() {
            for (name, t) in &s.topics {
                let n = t.partitions.keys().filter(|&&k| k >= 0).count();
                if n > 0 {
                    p.insert(name.clone(), i32::try_from(n).unwrap_or(i32::MAX));
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let s = &self.0;
        s.errors.fetch_add(1, Ordering::Relaxed);
        let code = error.rdkafka_error_code();
        match code {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                s.auth_failed.store(true, Ordering::Relaxed);
            }
            Some(RDKafkaErrorCode::AllBrokersDown) => {
                s.all_down.store(true, Ordering::Relaxed);
            }
            Some(RDKafkaErrorCode::Fatal) => {
                s.fatal.store(true, Ordering::Relaxed);
            }
            _ => {}
        }
        s.log(&format!("err-{code:?}"), &format!("{error}: {reason}"));
    }
}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let s = &self.0;
        s.progress.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(_) => {
                s.acked.fetch_add(1, Ordering::Relaxed);
                s.all_down.store(false, Ordering::Relaxed);
            }
            Err((e, m)) => {
                let code = e.rdkafka_error_code();
                if code.is_some_and(permanent) {
                    s.failed.fetch_add(1, Ordering::Relaxed);
                    s.log(
                        &format!("dr-{code:?}"),
                        &format!(
                            "event to topic {:?} failed permanently and was dropped: {e}",
                            m.topic()
                        ),
                    );
                    return;
                }
                // Purged from the queue = never sent; anything else may have reached the
                // broker and becomes a possible duplicate when sent again.
                if code != Some(RDKafkaErrorCode::PurgeQueue) {
                    s.resent.fetch_add(1, Ordering::Relaxed);
                }
                match code {
                    Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight) => {}
                    Some(RDKafkaErrorCode::UnknownTopic | RDKafkaErrorCode::UnknownTopicOrPartition) => s.log(
                        &format!("unknown-topic-{}", m.topic()),
                        &format!(
                            "topic {:?} does not exist and the cluster did not create it: create it (or fix output.kafka.topic); its events are kept in the spool and retried",
                            m.topic()
                        ),
                    ),
                    _ => s.log(
                        &format!("dr-{code:?}"),
                        &format!("event to topic {:?} failed ({e}); kept and retried", m.topic()),
                    ),
                }
                if let Ok(mut b) = s.back.lock() {
                    b.push(OwnedRec {
                        topic: m.topic().to_owned(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().unwrap_or_default().to_vec(),
                    });
                }
            }
        }
    }
}

/// Outcome of handing one record to librdkafka.
enum Sent {
    Queued,
    Full,
    /// Not sendable (too large, bad topic name, ...): counted and dropped.
    Rejected,
}

/// The Kafka sink.
pub struct KafkaSink {
    producer: ThreadedProducer<Ctx>,
    shared: Arc<Shared>,
    client: ClientConfig,
    route: Route,
    scratch: Scratch,
    partition: Partitioning,
    rr: u32,
    rr_counts: HashMap<String, i32>,
    headers: Option<OwnedHeaders>,
    spool: Option<Spool>,
    spool_buf: Vec<u8>,
    spooling: bool,
    flush_timeout: Duration,
    last_drain: Instant,
    since_drain: u32,
    since_stats: u32,
    produced: u64,
    rejected: u64,
    dropped: u64,
    spool_error: Option<std::io::Error>,
}

impl KafkaSink {
    /// Create the producer, open the spool (its events are replayed first), probe the brokers.
    pub fn open(cfg: &KafkaConfig) -> Result<KafkaSink> {
        let mut client = cfg.client_config();
        client.set_log_level(RDKafkaLogLevel::Error);
        let shared = Arc::new(Shared::new());
        let producer: ThreadedProducer<Ctx> = client
            .create_with_context(Ctx(Arc::clone(&shared)))
            .map_err(|e| anyhow::anyhow!("output.kafka: {e}"))?;
        let spool = if cfg.spool.enabled {
            Some(Spool::open(&cfg.spool).with_context(|| {
                format!(
                    "output.kafka.spool: cannot open {}",
                    cfg.spool.path.display()
                )
            })?)
        } else {
            None
        };
        // Probe: a clear error for bad credentials, a warning for unreachable brokers (events
        // are then spooled until they come back).
        let probe = producer.client().fetch_metadata(None, cfg.probe_timeout);
        if shared.auth_failed.load(Ordering::Relaxed)
            || matches!(&probe, Err(e) if matches!(e.rdkafka_error_code(), Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed)))
        {
            bail!(
                "output.kafka: authentication with {} failed (check username/password, sasl.mechanism, ssl)",
                cfg.hosts.join(",")
            );
        }
        if let Err(e) = &probe {
            eprintln!(
                "sensor: kafka: brokers {} not reachable within {:?} ({e}); events are queued{} until they are",
                cfg.hosts.join(","),
                cfg.probe_timeout,
                spool
                    .as_ref()
                    .map(|s| format!(" and spooled to {}", s.dir().display()))
                    .unwrap_or_default()
            );
        }
        let headers = if cfg.headers.is_empty() {
            None
        } else {
            let mut h = OwnedHeaders::new_with_capacity(cfg.headers.len());
            for (k, v) in &cfg.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
            }
            Some(h)
        };
        let spooling = spool.as_ref().is_some_and(|s| !s.is_empty());
        if let Some(s) = spool.as_ref().filter(|s| !s.is_empty()) {
            eprintln!(
                "sensor: kafka: replaying {} spooled events from {} first",
                s.records(),
                s.dir().display()
            );
        }
        Ok(KafkaSink {
            producer,
            shared,
            client,
            route: cfg.route.clone(),
            scratch: Scratch::default(),
            partition: cfg.partition.clone(),
            rr: 0,
            rr_counts: HashMap::new(),
            headers,
            spool,
            spool_buf: Vec::new(),
            spooling,
            flush_timeout: cfg.flush_timeout,
            last_drain: Instant::now(),
            since_drain: 0,
            since_stats: 0,
            produced: 0,
            rejected: 0,
            dropped: 0,
            spool_error: None,
        })
    }

    fn ctx(&self) -> &Shared {
        &self.shared
    }

    /// After a fatal producer error (e.g. the idempotence state was lost by the cluster): hand
    /// the queue back (in front of the spool) and start a new producer.
    fn recover_from_fatal(&mut self) {
        self.shared.fatal.store(false, Ordering::Relaxed);
        let why = self
            .producer
            .client()
            .fatal_error()
            .map(|(c, r)| format!("{c:?}: {r}"))
            .unwrap_or_default();
        self.ctx().log(
            "fatal",
            &format!("fatal producer error ({why}): restarting the producer, queued events go back to the spool"),
        );
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let t = Instant::now();
        while self.producer.in_flight_count() > 0 && t.elapsed() < PURGE_WAIT {
            std::thread::sleep(FLUSH_STEP);
        }
        match self
            .client
            .create_with_context::<Ctx, ThreadedProducer<Ctx>>(Ctx(Arc::clone(&self.shared)))
        {
            Ok(p) => self.producer = p,
            Err(e) => self
                .ctx()
                .log("recreate", &format!("cannot restart the producer: {e}")),
        }
        self.put_back_in_front();
    }

    /// Everything librdkafka handed back goes in front of the spool (it is older).
    fn put_back_in_front(&mut self) {
        let back = self
            .ctx()
            .back
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default();
        if back.is_empty() {
            return;
        }
        match self.spool.as_mut() {
            Some(sp) => match sp.prepend(&back) {
                Ok(_) => self.spooling = true,
                Err(e) => {
                    self.ctx()
                        .log("spool-err", &format!("cannot write the spool: {e}"));
                    self.dropped += back.len() as u64;
                    self.spool_error.get_or_insert(e);
                }
            },
            None => self.dropped += back.len() as u64,
        }
    }

    /// Hand one record to librdkafka.
    fn send(&mut self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> Sent {
        let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        if self.partition == Partitioning::RoundRobin {
            if let Some(&n) = self.rr_counts.get(topic) {
                if n > 0 {
                    self.rr = self.rr.wrapping_add(1);
                    rec = rec.partition(i32::try_from(self.rr % n.unsigned_abs()).unwrap_or(0));
                }
            }
        }
        if let Some(h) = &self.headers {
            rec = rec.headers(h.clone());
        }
        match self.producer.send(rec) {
            Ok(()) => {
                self.produced += 1;
                Sent::Queued
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Sent::Full,
            Err((e, _)) => {
                self.rejected += 1;
                self.dropped += 1;
                self.ctx().log(
                    &format!("send-{:?}", e.rdkafka_error_code()),
                    &format!("event to topic {topic:?} rejected and dropped: {e}"),
                );
                Sent::Rejected
            }
        }
    }

    fn spool_one(&mut self, topic: &str, key: Option<&[u8]>, payload: &[u8]) {
        let Some(sp) = self.spool.as_mut() else {
            self.dropped += 1;
            return;
        };
        let rec = Rec {
            topic,
            key,
            payload,
        };
        match sp.push(rec, &mut self.spool_buf) {
            Ok(true) => self.spooling = true,
            Ok(false) => {
                self.spooling = true;
                self.ctx().log(
                    "spool-full",
                    "spool full: events dropped (see the dropped counter)",
                );
            }
            Err(e) => {
                self.ctx().log(
                    "spool-err",
                    &format!("cannot write the spool: {e}; event dropped"),
                );
                self.spool_error.get_or_insert(e);
            }
        }
    }

    /// Retriable failures reported by librdkafka go to the spool.
    fn take_back(&mut self) {
        let back = match self.ctx().back.lock() {
            Ok(mut b) if !b.is_empty() => std::mem::take(&mut *b),
            _ => return,
        };
        for r in back {
            self.spool_one(&r.topic, r.key.as_deref(), &r.payload);
        }
    }

    /// Move spooled events into the queue while it has room. True when the spool is empty.
    fn drain(&mut self) -> bool {
        self.last_drain = Instant::now();
        self.since_drain = 0;
        if self.partition == Partitioning::RoundRobin {
            let counts = self.ctx().partitions.lock().map(|p| p.clone()).ok();
            if let Some(c) = counts {
                self.rr_counts = c;
            }
        }
        self.take_back();
        let Some(mut sp) = self.spool.take() else {
            self.spooling = false;
            return true;
        };
        let mut empty = false;
        loop {
            let rec = match sp.front() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    empty = true;
                    break;
                }
                Err(e) => {
                    self.ctx()
                        .log("spool-read", &format!("cannot read the spool: {e}"));
                    self.spool_error.get_or_insert(e);
                    break;
                }
            };
            match self.send(rec.topic, rec.key, rec.payload) {
                Sent::Full => break,
                Sent::Queued | Sent::Rejected => sp.pop(),
            }
        }
        self.spool = Some(sp);
        self.spooling = !empty;
        empty
    }

    /// Wait for room in a full queue while deliveries make progress; false when stalled.
    fn wait_for_room(&mut self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> bool {
        let mut seen = self.ctx().progress.load(Ordering::Relaxed);
        let mut last = Instant::now();
        loop {
            std::thread::sleep(QUEUE_FULL_SLEEP);
            match self.send(topic, key, payload) {
                Sent::Queued | Sent::Rejected => return true,
                Sent::Full => {}
            }
            let now_seen = self.ctx().progress.load(Ordering::Relaxed);
            if now_seen != seen {
                seen = now_seen;
                last = Instant::now();
            } else if last.elapsed() >= STALL {
                return false;
            }
        }
    }

    /// Write one event.
    pub fn write(&mut self, line: &[u8]) {
        if self.shared.fatal.load(Ordering::Relaxed) {
            self.recover_from_fatal();
        }
        let has_key = self.route.eval(line, &mut self.scratch);
        let topic = std::mem::take(&mut self.scratch.topic);
        let key = std::mem::take(&mut self.scratch.key);
        let key_b = has_key.then_some(key.as_bytes());
        self.since_drain += 1;
        if self.since_drain >= DRAIN_EVERY || self.last_drain.elapsed() >= DRAIN_INTERVAL {
            if self.spooling {
                self.drain();
            } else {
                // Events librdkafka gave back (retriable failures) go to the spool.
                self.last_drain = Instant::now();
                self.since_drain = 0;
                self.take_back();
            }
        }
        if self.spooling {
            self.spool_one(&topic, key_b, line);
        } else {
            match self.send(&topic, key_b, line) {
                Sent::Queued | Sent::Rejected => {}
                Sent::Full => {
                    if !self.wait_for_room(&topic, key_b, line) {
                        self.ctx().log(
                            "stall",
                            "producer queue full and no delivery progress: broker unreachable? spooling",
                        );
                        self.spool_one(&topic, key_b, line);
                    }
                }
            }
        }
        self.scratch.topic = topic;
        self.scratch.key = key;
    }

    /// Counters (also refreshes the gauges).
    pub fn stats(&mut self, out: &mut OutputStats) {
        self.since_stats += 1;
        if self.since_stats < STATS_EVERY {
            return;
        }
        self.fill_stats(out);
    }

    fn fill_stats(&mut self, out: &mut OutputStats) {
        self.since_stats = 0;
        let c = self.ctx();
        out.kafka = true;
        out.produced = self.produced;
        out.acked = c.acked.load(Ordering::Relaxed);
        out.failed = c.failed.load(Ordering::Relaxed) + self.rejected;
        out.retried = c.retries.load(Ordering::Relaxed);
        out.resent = c.resent.load(Ordering::Relaxed);
        out.rtt_us = c.rtt_us.load(Ordering::Relaxed);
        out.errors = c.errors.load(Ordering::Relaxed);
        out.queue_depth = u64::try_from(self.producer.in_flight_count()).unwrap_or(0);
        let (spooled, replayed, sdropped, sbytes, srecords) =
            self.spool.as_ref().map_or((0, 0, 0, 0, 0), |s| {
                (
                    s.stats.spooled,
                    s.stats.replayed,
                    s.stats.dropped,
                    s.bytes(),
                    s.records(),
                )
            });
        out.spooled = spooled;
        out.replayed = replayed;
        out.spool_bytes = sbytes;
        out.spool_events = srecords;
        out.dropped = self.dropped + sdropped + c.failed.load(Ordering::Relaxed);
    }

    /// Deliver everything (spool, then queue) while there is progress; after `flush_timeout`
    /// without progress, put the queue back in front of the spool. Updates `out`.
    pub fn flush(&mut self, out: &mut OutputStats) -> std::io::Result<()> {
        let mut seen = self.ctx().progress.load(Ordering::Relaxed);
        let mut last = Instant::now();
        loop {
            if self.shared.fatal.load(Ordering::Relaxed) {
                self.recover_from_fatal();
            }
            let spool_empty = self.drain();
            if spool_empty && self.producer.in_flight_count() == 0 {
                break;
            }
            std::thread::sleep(FLUSH_STEP);
            let p = self.ctx().progress.load(Ordering::Relaxed);
            if p != seen {
                seen = p;
                last = Instant::now();
            } else if last.elapsed() >= self.flush_timeout {
                break;
            }
        }
        if self.producer.in_flight_count() > 0 {
            let n = self.producer.in_flight_count();
            self.producer
                .purge(PurgeConfig::default().queue().inflight());
            let t = Instant::now();
            while self.producer.in_flight_count() > 0 && t.elapsed() < PURGE_WAIT {
                std::thread::sleep(FLUSH_STEP);
            }
            let back = self
                .ctx()
                .back
                .lock()
                .map(|mut b| std::mem::take(&mut *b))
                .unwrap_or_default();
            match self.spool.as_mut() {
                Some(sp) => {
                    let kept = sp.prepend(&back)?;
                    eprintln!(
                        "sensor: kafka: broker did not take {n} queued events within {:?}: {kept} put back in the spool at {} (sent again on the next start)",
                        self.flush_timeout,
                        sp.dir().display()
                    );
                }
                None => {
                    self.dropped += back.len() as u64;
                    eprintln!(
                        "sensor: kafka: broker did not take {n} queued events within {:?}; no spool configured: dropped",
                        self.flush_timeout
                    );
                }
            }
            self.spooling = true;
        }
        if let Some(sp) = self.spool.as_mut() {
            sp.close()?;
            if !sp.is_empty() {
                self.spooling = true;
            }
        }
        self.fill_stats(out);
        match self.spool_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Re-exported for tests and tools that consume what the sensor produced.
pub use rdkafka;
