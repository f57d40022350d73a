//! Reading processor options: YAML → JSON with dotted keys expanded (as libbeat's config loader
//! does: `netinfo.enabled: false` = `netinfo: {enabled: false}`), and typed option getters whose
//! errors name the option.

use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

/// A short description of a JSON value's kind, for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn key_string(k: &Yaml) -> Result<String, String> {
    match k {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Tagged(t) => key_string(&t.value),
        Yaml::Null => Err("a mapping key is empty (null)".to_owned()),
        Yaml::Sequence(_) | Yaml::Mapping(_) => {
            Err("a mapping key is a list or mapping; keys must be plain names".to_owned())
        }
    }
}

/// Convert YAML to JSON, expanding dotted mapping keys into nested objects.
pub fn yaml_to_json(v: &Yaml) -> Result<Value, String> {
    Ok(match v {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_u64() {
                Value::Number(i.into())
            } else if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(
                    Number::from_f64(f).ok_or_else(|| format!("the number {n} is not finite"))?,
                )
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = key_string(k)?;
                insert_dotted(&mut out, &key, yaml_to_json(v)?).map_err(|()| {
                    format!("key `{key}` is given twice (directly or as a dotted path)")
                })?;
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => yaml_to_json(&t.value)?,
    })
}

/// Insert `v` at the dotted `key` of `m`, merging objects; `Err` when a leaf is given twice.
fn insert_dotted(m: &mut Map<String, Value>, key: &str, v: Value) -> Result<(), ()> {
    let (head, rest) = match key.split_once('.') {
        Some((h, r)) if !h.is_empty() && !r.is_empty() => (h, Some(r)),
        _ => (key, None),
    };
    let v = match rest {
        Some(rest) => {
            let mut inner = Map::new();
            insert_dotted(&mut inner, rest, v)?;
            Value::Object(inner)
        }
        None => v,
    };
    match (m.get_mut(head), v) {
        (None, v) => {
            m.insert(head.to_owned(), v);
            Ok(())
        }
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (k, v) in new {
                insert_dotted(existing, &k, v)?;
            }
            Ok(())
        }
        (Some(_), _) => Err(()),
    }
}

/// The options of one processor (or of a nested block such as `netinfo`), checked against the
/// names the processor accepts.
pub struct Opts {
    map: Map<String, Value>,
}

impl Opts {
    /// Options from the value given to a processor (`null` = no options).
    pub fn new(v: Value, allowed: &[&str]) -> Result<Opts, String> {
        let map = match v {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => return Err(format!("options must be a mapping, found {}", kind(&other))),
        };
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!(
                    "unknown option `{k}` (supported: {})",
                    allowed.join(", ")
                ));
            }
        }
        Ok(Opts { map })
    }

    /// Take the raw value of `key` (absent → `None`).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Take a required option.
    pub fn required(&mut self, key: &str) -> Result<Value, String> {
        self.take(key)
            .ok_or_else(|| format!("missing required option `{key}`"))
    }

    /// A nested block of options (`netinfo:`, `geo:`), `None` when absent.
    pub fn block(&mut self, key: &str, allowed: &[&str]) -> Result<Option<Opts>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => Opts::new(v, allowed)
                .map(Some)
                .map_err(|e| format!("in `{key}`: {e}")),
        }
    }

    /// A boolean option (`true`/`false`, also as the strings "true"/"false").
    pub fn bool(&mut self, key: &str, default: bool) -> Result<bool, String> {
        match self.take(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => to_bool(&v)
                .ok_or_else(|| format!("option `{key}` must be true or false, found {}", kind(&v))),
        }
    }

    /// A string option; numbers and booleans are accepted as their text.
    pub fn string(&mut self, key: &str) -> Result<Option<String>, String> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => to_string(&v)
                .map(Some)
                .ok_or_else(|| format!("option `{key}` must be a string, found {}", kind(&v))),
        }
    }
}

/// A boolean from a JSON boolean or the strings "true"/"false".
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A string from a JSON string, number or boolean.
pub fn to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of strings; a single string is a list of one.
pub fn string_list(v: Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                to_string(item)
                    .ok_or_else(|| format!("{what}[{i}] must be a string, found {}", kind(item)))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => to_string(&other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("{what} must be a list of strings, found {}", kind(&other))),
    }
}

/// Flatten nested objects into dotted paths (`{a: {b: 1}}` → `a.b: 1`), as libbeat does for the
/// field maps of conditions; lists and scalars are leaves.
pub fn flatten(m: Map<String, Value>) -> Vec<(String, Value)> {
    fn walk(prefix: &str, m: Map<String, Value>, out: &mut Vec<(String, Value)>) {
        for (k, v) in m {
            let full = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(sub) => walk(&full, sub, out),
                v => out.push((full, v)),
            }
        }
    }
    let mut out = Vec::new();
    walk("", m, &mut out);
    out
}
