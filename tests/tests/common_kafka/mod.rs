//! Kafka test helpers: a real tansu broker on a free 127.0.0.1 port with its own data dir
//! (stopped by PID when dropped), topic creation, and a consumer that reads every partition.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code,
    reason = "test helpers"
)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sensor::output::kafka::rdkafka;

/// The tansu binary (`xtask/setup.sh` installs it into ~/.cargo/bin).
pub fn tansu() -> PathBuf {
    let candidates = [
        std::env::var_os("TANSU").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo/bin/tansu")),
        Some(PathBuf::from("tansu")),
    ];
    for c in candidates.into_iter().flatten() {
        let ok = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c;
        }
    }
    panic!("tansu (Kafka-protocol broker) is not installed: run `bash xtask/setup.sh` (cargo install tansu@0.6.0 --locked --features dynostore,libsql)");
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("sensor-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A tansu broker with sqlite storage (data survives restarts).
pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Broker {
    /// Start on a free port.
    pub fn start(name: &str) -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: temp_dir(&format!("tansu-{name}")),
            child: None,
        };
        b.restart();
        b
    }

    /// Start on a given port (e.g. one a sensor already tried).
    pub fn start_on(name: &str, port: u16) -> Broker {
        let mut b = Broker {
            port,
            dir: temp_dir(&format!("tansu-{name}")),
            child: None,
        };
        b.restart();
        b
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// (Re)start the process and wait until it accepts connections.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .unwrap();
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            // tansu resolves the sqlite path against its working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let t = Instant::now();
        while TcpStream::connect(self.addr()).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "tansu did not listen on {} within 30 s; log: {}",
                self.addr(),
                std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
            );
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "tansu exited ({st}); log: {}",
                        std::fs::read_to_string(self.dir.join("tansu.log")).unwrap_or_default()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the process (by its PID) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("KEEP_TANSU_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Create topics (ignores "already exists").
pub fn create_topics(addr: &str, topics: &[String], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .create()
        .unwrap();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let rt = tokio_like_block_on(admin.create_topics(&new, &opts));
    for r in rt.unwrap() {
        if let Err((t, e)) = r {
            assert!(
                format!("{e:?}").contains("TopicAlreadyExists"),
                "create topic {t}: {e:?}"
            );
        }
    }
}

/// A consumed record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub key: Option<String>,
    pub payload: String,
}

/// Read every partition of `topics` from the beginning until `want` records were seen and
/// nothing new arrived for `settle`, or `deadline` passed.
pub fn consume_all(
    addr: &str,
    topics: &[String],
    want: usize,
    settle: Duration,
    deadline: Duration,
) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", addr)
        .set("group.id", format!("sensor-test-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), Duration::from_secs(10))
            .unwrap();
        let n = md.topics().first().map_or(0, |x| x.partitions().len());
        assert!(n > 0, "topic {t} has no partitions");
        for p in 0..n {
            tpl.add_partition_offset(t, i32::try_from(p).unwrap(), Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let start = Instant::now();
    let mut last_new = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(Consumed {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    key: m.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
                    payload: String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap(),
                });
                last_new = Instant::now();
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
        if out.len() >= want && last_new.elapsed() >= settle {
            break;
        }
        if start.elapsed() >= deadline {
            break;
        }
    }
    out
}

/// Multiset of strings.
pub fn multiset<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

/// The `event.dataset` of an encoded event.
pub fn dataset(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["event"]["dataset"].as_str().unwrap().to_owned()
}

/// The `network.community_id` of an encoded event.
pub fn community_id(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["network"]["community_id"].as_str().map(str::to_owned)
}

/// Compare delivered payloads with the expected lines: (missing, duplicates, unexpected).
pub fn compare(expected: &[String], got: &[Consumed]) -> (usize, usize, usize) {
    let want = multiset(expected.iter().map(String::as_str));
    let have = multiset(got.iter().map(|c| c.payload.as_str()));
    let mut missing = 0;
    let mut dups = 0;
    let mut unexpected = 0;
    for (k, &n) in &want {
        let h = have.get(k).copied().unwrap_or(0);
        if h < n {
            missing += n - h;
        } else {
            dups += h - n;
        }
    }
    for (k, &h) in &have {
        if !want.contains_key(k) {
            unexpected += h;
        }
    }
    (missing, dups, unexpected)
}

/// Run a future to completion on a throwaway current-thread runtime.
fn tokio_like_block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct W(std::thread::Thread);
    impl Wake for W {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(W(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}
