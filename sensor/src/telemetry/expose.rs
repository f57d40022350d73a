//! The two renderings of [`Sample`]s: Prometheus text exposition (`/metrics`) and the JSON of
//! the periodic stats event.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::registry::{Kind, Sample};
use crate::time::Ts;

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Prometheus text format 0.0.4.
pub fn prometheus(samples: &[Sample]) -> String {
    let mut s = String::with_capacity(samples.len() * 96);
    let mut last: Option<&str> = None;
    for m in samples {
        if last != Some(m.name) {
            let kind = match m.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(s, "# HELP {} {}", m.name, m.help);
            let _ = writeln!(s, "# TYPE {} {kind}", m.name);
            last = Some(m.name);
        }
        match &m.label {
            Some((k, v)) => {
                let _ = writeln!(
                    s,
                    "{}{{{k}=\"{}\"}} {}",
                    m.name,
                    escape_label(v),
                    number(m.value)
                );
            }
            None => {
                let _ = writeln!(s, "{} {}", m.name, number(m.value));
            }
        }
    }
    s
}

fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && (0.0..9.0e15).contains(&v) {
        Value::from(v as u64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// The periodic stats event: the same metrics as `/metrics`, under `sensor.metrics.<name>`
/// (labelled metrics as an object keyed by label value), `event.kind: metric`,
/// `event.dataset: sensor.stats`.
pub fn stats_event(samples: &[Sample], now: Ts, period_ms: u64) -> Map<String, Value> {
    let mut metrics = Map::new();
    for m in samples {
        let v = json_number(m.value);
        match &m.label {
            Some((_, lv)) => {
                let e = metrics
                    .entry(m.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = e {
                    o.insert(lv.clone(), v);
                }
            }
            None => {
                metrics.insert(m.name.to_owned(), v);
            }
        }
    }
    let mut ev = Map::new();
    ev.insert("@timestamp".into(), now.rfc3339().into());
    ev.insert(
        "event".into(),
        serde_json::json!({"kind": "metric", "module": "sensor", "dataset": "sensor.stats"}),
    );
    ev.insert(
        "metricset".into(),
        serde_json::json!({"name": "stats", "period": period_ms}),
    );
    ev.insert(
        "ecs".into(),
        serde_json::json!({"version": crate::ecs::ECS_VERSION}),
    );
    let mut sensor = Map::new();
    sensor.insert("metrics".into(), Value::Object(metrics));
    ev.insert("sensor".into(), Value::Object(sensor));
    ev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                name: "sensor_protocol_transactions_total",
                help: "Transactions",
                kind: Kind::Counter,
                label: Some(("protocol", "http".into())),
                value: 3.0,
            },
            Sample {
                name: "sensor_protocol_transactions_total",
                help: "Transactions",
                kind: Kind::Counter,
                label: Some(("protocol", "d\"ns".into())),
                value: 4.0,
            },
            Sample {
                name: "sensor_process_resident_memory_bytes",
                help: "RSS",
                kind: Kind::Gauge,
                label: None,
                value: 1.5,
            },
        ]
    }

    #[test]
    fn prometheus_text() {
        let t = prometheus(&samples());
        assert_eq!(
            t,
            "# HELP sensor_protocol_transactions_total Transactions\n\
             # TYPE sensor_protocol_transactions_total counter\n\
             sensor_protocol_transactions_total{protocol=\"http\"} 3\n\
             sensor_protocol_transactions_total{protocol=\"d\\\"ns\"} 4\n\
             # HELP sensor_process_resident_memory_bytes RSS\n\
             # TYPE sensor_process_resident_memory_bytes gauge\n\
             sensor_process_resident_memory_bytes 1.5\n"
        );
    }

    #[test]
    fn stats_event_shape() {
        let ev = stats_event(&samples(), Ts(1_000_000_000), 30_000);
        assert_eq!(ev["event"]["kind"], "metric");
        assert_eq!(ev["event"]["dataset"], "sensor.stats");
        assert_eq!(ev["metricset"]["period"], 30_000);
        let m = &ev["sensor"]["metrics"];
        assert_eq!(m["sensor_protocol_transactions_total"]["http"], 3);
        assert_eq!(m["sensor_protocol_transactions_total"]["d\"ns"], 4);
        assert_eq!(m["sensor_process_resident_memory_bytes"], 1.5);
    }
}
