//! Durations as Packetbeat writes them: `10s`, `1m30s`, `200ms`, or a number of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Int(i64),
    Float(f64),
    Text(String),
}

fn parse(raw: Raw) -> Result<Option<Duration>, String> {
    match raw {
        Raw::Int(n) if n < 0 => Ok(None),
        Raw::Int(n) => Ok(Some(Duration::from_secs(n.unsigned_abs()))),
        Raw::Float(f) if f < 0.0 => Ok(None),
        Raw::Float(f) => Duration::try_from_secs_f64(f)
            .map(Some)
            .map_err(|e| e.to_string()),
        Raw::Text(s) => {
            let t = s.trim();
            if t.starts_with('-') {
                return Ok(None);
            }
            if let Ok(n) = t.parse::<u64>() {
                return Ok(Some(Duration::from_secs(n)));
            }
            humantime::parse_duration(t)
                .map(Some)
                .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. 10s, 500ms, 1m"))
        }
    }
}

/// A non-negative duration (a negative one is an error).
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match parse(Raw::deserialize(d)?).map_err(serde::de::Error::custom)? {
        Some(v) => Ok(v),
        None => Err(serde::de::Error::custom(
            "a negative duration is not allowed here",
        )),
    }
}

/// A duration where a negative value (`-1`) means "never" (`None`), as `flows.period`.
pub fn de_period<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    parse(Raw::deserialize(d)?).map_err(serde::de::Error::custom)
}
