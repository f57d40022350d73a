//! Event sinks: stdout (default) and a file, both NDJSON. Kafka comes with its own issue.
//! Every sink is bounded by its writer's buffer; a write error is counted and reported once.

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
}

impl std::str::FromStr for OutputTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" | "-" | "console" => Ok(OutputTarget::Stdout),
            _ => match s.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(OutputTarget::File(PathBuf::from(p))),
                _ => Err(format!("unknown output {s:?}: use stdout or file:PATH")),
            },
        }
    }
}

/// Output counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutputStats {
    /// Events written.
    pub events: u64,
    /// Events that could not be written.
    pub failed: u64,
}

/// A sink for encoded events (one JSON object per call, without the newline).
pub struct Output {
    w: Box<dyn Write + Send>,
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
        };
        Ok(Output {
            w,
            stats: OutputStats::default(),
            error: None,
        })
    }

    /// A sink writing into any writer (tests, benchmarks).
    pub fn from_writer(w: Box<dyn Write + Send>) -> Output {
        Output {
            w,
            stats: OutputStats::default(),
            error: None,
        }
    }

    /// Write one event.
    pub fn write(&mut self, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        if self.error.is_some() {
            self.stats.failed += 1;
            return;
        }
        match self
            .w
            .write_all(line)
            .and_then(|()| self.w.write_all(b"\n"))
        {
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

    /// Flush buffered events.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}
