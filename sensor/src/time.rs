//! Timestamps. In replay the capture's timestamps are the clock; live capture reads the system
//! clock once per batch. Everything downstream only sees [`Ts`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub u64);

impl Ts {
    /// From seconds and microseconds (classic pcap).
    pub fn from_micros(secs: u64, micros: u64) -> Self {
        Ts(secs
            .saturating_mul(1_000_000_000)
            .saturating_add(micros.saturating_mul(1000)))
    }

    /// Nanoseconds elapsed since `earlier` (0 when `earlier` is later).
    pub fn since(self, earlier: Ts) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This time plus a duration (saturating).
    #[allow(
        clippy::should_implement_trait,
        reason = "Ts + Duration, saturating; not an Add of two Ts"
    )]
    pub fn add(self, d: Duration) -> Ts {
        Ts(self
            .0
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)))
    }

    /// RFC 3339 UTC with microseconds, e.g. `2026-11-27T18:07:39.080599Z`.
    pub fn rfc3339(self) -> String {
        let st = UNIX_EPOCH + Duration::from_nanos(self.0);
        humantime::format_rfc3339_micros(st).to_string()
    }

    /// The current system time.
    pub fn now() -> Ts {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ts(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_micros() {
        let ts = Ts::from_micros(1_795_802_859, 80_599);
        assert_eq!(ts.rfc3339(), "2026-11-27T18:07:39.080599Z");
    }
}
