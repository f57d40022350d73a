//! Event sinks: stdout (default), a file (both NDJSON), and Kafka (`kafka.rs`: bounded producer
//! queue + bounded disk spool, at-least-once). Every sink is bounded; a write error is counted
//! and reported once; every Kafka drop is counted.

pub mod kafka;
pub mod kafka_config;
pub mod route;
pub mod spool;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Buffered bytes before a write to the OS: big enough to amortise syscalls at high event rates.
const WRITE_BUFFER: usize = 1 << 20;

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// NDJSON on standard output.
    Stdout,
    /// NDJSON appended to a file.
    File(PathBuf),
    /// Kafka with `output.kafka` from the config (defaults without one); `hosts` (from
    /// `--output kafka:HOST:PORT,...`) overrides the configured brokers when not empty.
    Kafka {
        /// Broker list override.
        hosts: Vec<String>,
    },
}

impl std::str::FromStr for OutputTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" | "-" | "console" => Ok(OutputTarget::Stdout),
            "kafka" => Ok(OutputTarget::Kafka { hosts: Vec::new() }),
            _ => {
                if let Some(h) = s.strip_prefix("kafka:") {
                    let hosts: Vec<String> = h
                        .split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if hosts.is_empty() {
                        return Err("kafka: give brokers as kafka:HOST:PORT[,HOST:PORT]".into());
                    }
                    return Ok(OutputTarget::Kafka { hosts });
                }
                match s.strip_prefix("file:") {
                    Some(p) if !p.is_empty() => Ok(OutputTarget::File(PathBuf::from(p))),
                    _ => Err(format!(
                        "unknown output {s:?}: use stdout, file:PATH, kafka or kafka:HOST:PORT"
                    )),
                }
            }
        }
    }
}

/// Output counters. The Kafka ones stay 0 (and `kafka` false) for the other sinks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Events written (Kafka: accepted by the output, queued or spooled).
    pub events: u64,
    /// Events that could not be written (Kafka: rejected or permanently failed deliveries).
    pub failed: u64,
    /// The Kafka sink is in use.
    pub kafka: bool,
    /// Kafka: records handed to the producer (spool replays and re-sends included).
    pub produced: u64,
    /// Kafka: records acknowledged by the broker.
    pub acked: u64,
    /// Kafka: produce requests retried by librdkafka (statistics `txretries`).
    pub retried: u64,
    /// Kafka: records that may have reached the broker and are sent again (purged in flight,
    /// retriable failure): an upper bound of the duplicates.
    pub resent: u64,
    /// Kafka: records written to the disk spool.
    pub spooled: u64,
    /// Kafka: spooled records handed back to the producer.
    pub replayed: u64,
    /// Kafka: events lost (spool full, permanent failure, no spool); every loss is here.
    pub dropped: u64,
    /// Kafka: records in the producer queue (gauge).
    pub queue_depth: u64,
    /// Kafka: records in the spool (gauge).
    pub spool_events: u64,
    /// Kafka: bytes in the spool (gauge).
    pub spool_bytes: u64,
    /// Kafka: mean broker round-trip time in microseconds (librdkafka statistics).
    pub rtt_us: u64,
    /// Kafka: client errors reported by librdkafka (connection refused, auth, ...).
    pub errors: u64,
}

enum Sink {
    Writer(Box<dyn Write + Send>),
    Kafka(Box<kafka::KafkaSink>),
}

/// A sink for encoded events (one JSON object per call, without the newline).
pub struct Output {
    w: Sink,
    /// Counters.
    pub stats: OutputStats,
    /// The first write error, kept for the summary.
    pub error: Option<io::Error>,
}

impl Output {
    /// Open the target.
    pub fn open(target: &OutputTarget) -> io::Result<Output> {
        let w: Box<dyn Write + Send> = match target {
            OutputTarget::Stdout => Box::new(BufWriter::with_capacity(WRITE_BUFFER, io::stdout())),
            OutputTarget::File(p) => {
                let f: File = OpenOptions::new().create(true).append(true).open(p)?;
                Box::new(BufWriter::with_capacity(WRITE_BUFFER, f))
            }
            OutputTarget::Kafka { .. } => {
                return Output::open_configured(target, None)
                    .map_err(|e| io::Error::other(format!("{e:#}")));
            }
        };
        Ok(Output::from_writer(w))
    }

    /// Open the target; Kafka takes its options from `kafka` (`output.kafka`), else defaults.
    pub fn open_configured(
        target: &OutputTarget,
        kafka: Option<&kafka_config::KafkaConfig>,
    ) -> anyhow::Result<Output> {
        let OutputTarget::Kafka { hosts } = target else {
            return Ok(Output::open(target)?);
        };
        let mut cfg = match kafka {
            Some(k) => k.clone(),
            None => kafka_config::KafkaConfig::defaults()?,
        };
        if !hosts.is_empty() {
            cfg.set_hosts(hosts.clone());
        }
        let sink = kafka::KafkaSink::open(&cfg)?;
        Ok(Output {
            w: Sink::Kafka(Box::new(sink)),
            stats: OutputStats {
                kafka: true,
                ..OutputStats::default()
            },
            error: None,
        })
    }

    /// A sink writing into any writer (tests, benchmarks).
    pub fn from_writer(w: Box<dyn Write + Send>) -> Output {
        Output {
            w: Sink::Writer(w),
            stats: OutputStats::default(),
            error: None,
        }
    }

    /// Write one event.
    pub fn write(&mut self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let w = match &mut self.w {
            Sink::Kafka(k) => {
                k.write(line);
                self.stats.events += 1;
                k.stats(&mut self.stats);
                return;
            }
            Sink::Writer(w) => w,
        };
        if self.error.is_some() {
            self.stats.failed += 1;
            return;
        }
        match w.write_all(line).and_then(|()| w.write_all(b"\n")) {
            Ok(()) => self.stats.events += 1,
            Err(e) => {
                self.stats.failed += 1;
                self.error = Some(e);
            }
        }
    }

    /// True once writing failed (e.g. the reader of stdout went away).
    pub fn broken(&self) -> bool {
        self.error.is_some()
    }

    /// Flush buffered events. Kafka: deliver the spool and the queue while the broker makes
    /// progress, then put what is left back into the spool (bounded by `flush_timeout`); call
    /// it at shutdown. The counters are up to date afterwards.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.w {
            Sink::Writer(w) => w.flush(),
            Sink::Kafka(k) => {
                let r = k.flush(&mut self.stats);
                if let Err(e) = &r {
                    self.error
                        .get_or_insert(io::Error::new(e.kind(), e.to_string()));
                }
                r
            }
        }
    }
}
