//! Per-event topic and key: Beats format strings (`%{[event.dataset]}`, `%{[a][b]:default}`), the
//! `topics:` rule list (`topic`, `mappings`, `default`, `when`), read from the encoded JSON with a
//! streaming pass that only materialises the few fields the rules name.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{anyhow, bail, Result};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

/// Nesting of `when` conditions (`and`/`or`/`not`) accepted: deeper trees are certainly a
/// mistake and would only cost stack.
const MAX_CONDITION_DEPTH: usize = 16;

/// One `topics:` entry as written in the config.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopicRule {
    /// Topic format string.
    pub topic: Option<String>,
    /// Formatted value → topic.
    pub mappings: Option<Yaml>,
    /// Topic when `mappings` has no entry for the value.
    pub default: Option<String>,
    /// Condition.
    pub when: Option<Yaml>,
}

/// A field value read from an event.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Val {
    /// Not in the event.
    #[default]
    Missing,
    /// `null`.
    Null,
    /// A string, number or boolean as text.
    Scalar(String),
    /// An array of scalars (as text; nested values skipped).
    List(Vec<String>),
    /// An object (present, no scalar value).
    Object,
}

impl Val {
    fn text(&self) -> Option<&str> {
        match self {
            Val::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn from_json(v: &serde_json::Value) -> Val {
        match v {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::String(s) => Val::Scalar(s.clone()),
            serde_json::Value::Number(n) => Val::Scalar(n.to_string()),
            serde_json::Value::Bool(b) => Val::Scalar(b.to_string()),
            serde_json::Value::Array(a) => Val::List(
                a.iter()
                    .filter_map(|x| match Val::from_json(x) {
                        Val::Scalar(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            ),
            serde_json::Value::Object(_) => Val::Object,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Field { idx: usize, default: Option<String> },
}

/// A compiled format string.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Format(Vec<Piece>);

impl Format {
    /// Append the formatted text; false if a field without default is missing.
    fn render(&self, vals: &[Val], out: &mut String) -> bool {
        for p in &self.0 {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Field { idx, default } => {
                    match (vals.get(*idx).and_then(Val::text), default) {
                        (Some(v), _) => out.push_str(v),
                        (None, Some(d)) => out.push_str(d),
                        (None, None) => return false,
                    }
                }
            }
        }
        true
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Cond {
    Equals(Vec<(usize, String)>),
    Contains(Vec<(usize, String)>),
    HasFields(Vec<usize>),
    Range(Vec<(usize, RangeOp, String)>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cond {
    fn eval(&self, vals: &[Val]) -> bool {
        let get = |i: &usize| vals.get(*i).unwrap_or(&Val::Missing);
        match self {
            Cond::Equals(l) => l.iter().all(|(i, want)| match get(i) {
                Val::Scalar(s) => s == want,
                Val::List(items) => items.iter().any(|s| s == want),
                _ => false,
            }),
            Cond::Contains(l) => l.iter().all(|(i, want)| match get(i) {
                Val::Scalar(s) => s.contains(want.as_str()),
                Val::List(items) => items.iter().any(|s| s.contains(want.as_str())),
                _ => false,
            }),
            Cond::HasFields(l) => l.iter().all(|i| !matches!(get(i), Val::Missing)),
            Cond::Range(l) => l.iter().all(|(i, op, bound)| {
                let (Some(v), Ok(b)) = (
                    get(i).text().and_then(|s| s.parse::<f64>().ok()),
                    bound.parse::<f64>(),
                ) else {
                    return false;
                };
                match op {
                    RangeOp::Lt => v < b,
                    RangeOp::Lte => v <= b,
                    RangeOp::Gt => v > b,
                    RangeOp::Gte => v >= b,
                }
            }),
            Cond::And(c) => c.iter().all(|c| c.eval(vals)),
            Cond::Or(c) => c.iter().any(|c| c.eval(vals)),
            Cond::Not(c) => !c.eval(vals),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    topic: Option<Format>,
    mappings: Vec<(String, String)>,
    default: Option<String>,
    when: Option<Cond>,
}

/// Topic and key selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    fields: Vec<Vec<String>>,
    topic: Option<Format>,
    rules: Vec<Rule>,
    key: Option<Format>,
    default_topic: String,
}

/// Reused buffers for [`Route::eval`].
#[derive(Debug, Default)]
pub struct Scratch {
    vals: Vec<Val>,
    /// The topic of the last event.
    pub topic: String,
    /// The key of the last event (valid when `eval` returned `has_key`).
    pub key: String,
}

impl Route {
    /// Compile `topic`, `topics` and `key`.
    pub fn new(
        topic: Option<&str>,
        rules: Vec<TopicRule>,
        key: &str,
        default_topic: &str,
    ) -> Result<Route> {
        let mut fields = Vec::new();
        let topic = topic
            .map(|t| parse_format(t, &mut fields))
            .transpose()
            .map_err(|e| anyhow!("output.kafka.topic: {e}"))?;
        let mut compiled = Vec::new();
        for (n, r) in rules.into_iter().enumerate() {
            let at = format!("output.kafka.topics[{n}]");
            let t = r
                .topic
                .as_deref()
                .map(|t| parse_format(t, &mut fields))
                .transpose()
                .map_err(|e| anyhow!("{at}.topic: {e}"))?;
            let mut mappings = Vec::new();
            if let Some(m) = &r.mappings {
                let Yaml::Mapping(m) = m else {
                    bail!("{at}.mappings must be a mapping of value: topic");
                };
                let mut flat = Vec::new();
                flatten_scalars("", m, &mut flat).map_err(|e| anyhow!("{at}.mappings: {e}"))?;
                mappings = flat;
            }
            if t.is_none() && r.default.is_none() {
                bail!("{at}: give `topic` (and optionally `mappings`/`default`) or `default`");
            }
            let when = r
                .when
                .as_ref()
                .map(|w| parse_cond(w, &mut fields, 0))
                .transpose()
                .map_err(|e| anyhow!("{at}.when: {e}"))?;
            compiled.push(Rule {
                topic: t,
                mappings,
                default: r.default,
                when,
            });
        }
        let key = parse_format(key, &mut fields).map_err(|e| anyhow!("output.kafka.key: {e}"))?;
        Ok(Route {
            fields,
            topic,
            rules: compiled,
            key: if key.is_empty() { None } else { Some(key) },
            default_topic: default_topic.to_owned(),
        })
    }

    /// Select topic and key of one encoded event. Returns `has_key`. A malformed event (not a
    /// JSON object) goes to the default topic without key.
    pub fn eval(&self, json: &[u8], s: &mut Scratch) -> bool {
        s.vals.clear();
        s.vals.resize(self.fields.len(), Val::Missing);
        if !self.fields.is_empty() {
            let cands: Vec<(usize, usize)> = (0..self.fields.len()).map(|i| (i, 0)).collect();
            let mut de = serde_json::Deserializer::from_slice(json);
            let seed = Walk {
                fields: &self.fields,
                cands: &cands,
                out: &mut s.vals,
            };
            if seed.deserialize(&mut de).is_err() {
                s.vals.iter_mut().for_each(|v| *v = Val::Missing);
            }
        }
        s.topic.clear();
        let mut chosen = false;
        for r in &self.rules {
            if let Some(w) = &r.when {
                if !w.eval(&s.vals) {
                    continue;
                }
            }
            let mut t = String::new();
            let ok = match &r.topic {
                Some(f) => f.render(&s.vals, &mut t),
                None => false,
            };
            let pick = if ok {
                match r.mappings.iter().find(|(k, _)| *k == t) {
                    Some((_, v)) => Some(v.clone()),
                    None if !r.mappings.is_empty() => r.default.clone(),
                    None => Some(t),
                }
            } else {
                r.default.clone()
            };
            if let Some(p) = pick.filter(|p| !p.is_empty()) {
                s.topic.push_str(&p);
                chosen = true;
                break;
            }
        }
        if !chosen {
            if let Some(f) = &self.topic {
                chosen = f.render(&s.vals, &mut s.topic) && !s.topic.is_empty();
            }
        }
        if !chosen {
            s.topic.clear();
            s.topic.push_str(&self.default_topic);
        }
        s.key.clear();
        match &self.key {
            Some(k) => k.render(&s.vals, &mut s.key) && !s.key.is_empty(),
            None => false,
        }
    }
}

fn intern(fields: &mut Vec<Vec<String>>, path: Vec<String>) -> usize {
    if let Some(i) = fields.iter().position(|f| *f == path) {
        return i;
    }
    fields.push(path);
    fields.len().saturating_sub(1)
}

fn split_path(p: &str) -> Result<Vec<String>> {
    let segs: Vec<String> = p.split('.').map(str::to_owned).collect();
    if segs.iter().any(String::is_empty) {
        bail!("bad field name {p:?}");
    }
    Ok(segs)
}

/// `%{[a.b]}`, `%{[a][b]}`, `%{[a.b]:default}`; `%%{` is a literal `%{`.
fn parse_format(s: &str, fields: &mut Vec<Vec<String>>) -> Result<Format> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("%{") {
        lit.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            bail!("unterminated %{{ in {s:?}");
        };
        let inner = after.get(..end).unwrap_or_default();
        rest = after.get(end + 1..).unwrap_or_default();
        let mut path = Vec::new();
        let mut r = inner;
        while let Some(x) = r.strip_prefix('[') {
            let Some(close) = x.find(']') else {
                bail!("missing ] in %{{{inner}}}");
            };
            path.extend(split_path(x.get(..close).unwrap_or_default())?);
            r = x.get(close + 1..).unwrap_or_default();
        }
        if path.is_empty() {
            bail!("%{{{inner}}} names no field: write %{{[field.name]}}");
        }
        let default = match r {
            "" => None,
            _ => match r.strip_prefix(':') {
                Some(d) => Some(d.to_owned()),
                None => bail!("unexpected {r:?} after the field in %{{{inner}}}"),
            },
        };
        if !lit.is_empty() {
            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
        }
        pieces.push(Piece::Field {
            idx: intern(fields, path),
            default,
        });
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(Format(pieces))
}

fn yaml_scalar(v: &Yaml) -> Result<String> {
    Ok(match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => bail!("expected a string, number or boolean, found {other:?}"),
    })
}

/// Flatten nested mappings (the loader expands dotted keys) into (dotted path, scalar).
fn flatten_scalars(
    prefix: &str,
    m: &serde_yaml_ng::Mapping,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    for (k, v) in m {
        let k = yaml_scalar(k)?;
        let name = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Yaml::Mapping(inner) => flatten_scalars(&name, inner, out)?,
            other => out.push((name, yaml_scalar(other)?)),
        }
    }
    Ok(())
}

fn parse_cond(v: &Yaml, fields: &mut Vec<Vec<String>>, depth: usize) -> Result<Cond> {
    if depth > MAX_CONDITION_DEPTH {
        bail!("conditions nested deeper than {MAX_CONDITION_DEPTH}");
    }
    let Yaml::Mapping(m) = v else {
        bail!("a condition is a mapping such as `equals: {{event.dataset: http}}`");
    };
    let mut all = Vec::new();
    for (k, v) in m {
        let name = yaml_scalar(k)?;
        let c = match name.as_str() {
            "equals" | "contains" => {
                let Yaml::Mapping(fm) = v else {
                    bail!("`{name}` takes a mapping of field: value");
                };
                let mut flat = Vec::new();
                flatten_scalars("", fm, &mut flat)?;
                let l = flat
                    .into_iter()
                    .map(|(f, want)| Ok((intern(fields, split_path(&f)?), want)))
                    .collect::<Result<Vec<_>>>()?;
                if name == "equals" {
                    Cond::Equals(l)
                } else {
                    Cond::Contains(l)
                }
            }
            "has_fields" => {
                let Yaml::Sequence(seq) = v else {
                    bail!("`has_fields` takes a list of field names");
                };
                Cond::HasFields(
                    seq.iter()
                        .map(|f| Ok(intern(fields, split_path(&yaml_scalar(f)?)?)))
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            "range" => {
                let Yaml::Mapping(fm) = v else {
                    bail!("`range` takes a mapping of field: {{gte: N, lt: N}}");
                };
                let mut flat = Vec::new();
                flatten_scalars("", fm, &mut flat)?;
                let mut l = Vec::new();
                for (f, bound) in flat {
                    let Some((field, op)) = f.rsplit_once('.') else {
                        bail!("`range.{f}`: write field: {{gte: N}}");
                    };
                    let op = match op {
                        "lt" => RangeOp::Lt,
                        "lte" => RangeOp::Lte,
                        "gt" => RangeOp::Gt,
                        "gte" => RangeOp::Gte,
                        other => bail!("`range`: {other:?} is not one of lt, lte, gt, gte"),
                    };
                    if bound.parse::<f64>().is_err() {
                        bail!("`range.{f}`: {bound:?} is not a number");
                    }
                    l.push((intern(fields, split_path(field)?), op, bound));
                }
                Cond::Range(l)
            }
            "and" | "or" => {
                let Yaml::Sequence(seq) = v else {
                    bail!("`{name}` takes a list of conditions");
                };
                let l = seq
                    .iter()
                    .map(|c| parse_cond(c, fields, depth + 1))
                    .collect::<Result<Vec<_>>>()?;
                if name == "and" {
                    Cond::And(l)
                } else {
                    Cond::Or(l)
                }
            }
            "not" => Cond::Not(Box::new(parse_cond(v, fields, depth + 1)?)),
            other => bail!(
                "condition `{other}` is not supported (supported: equals, contains, has_fields, range, and, or, not)"
            ),
        };
        all.push(c);
    }
    Ok(match all.len() {
        1 => all.pop().unwrap_or(Cond::And(Vec::new())),
        _ => Cond::And(all),
    })
}

// ----- the streaming field reader -----

/// Walks one JSON value; `cands` are (field index, segments already matched).
struct Walk<'a> {
    fields: &'a [Vec<String>],
    cands: &'a [(usize, usize)],
    out: &'a mut Vec<Val>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Walk { fields, cands, out } = self;
        while let Some(next) = map.next_key_seed(KeyMatch { fields, cands })? {
            if next.is_empty() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let ends_here = next
                .iter()
                .any(|(i, d)| fields.get(*i).is_some_and(|f| f.len() == *d));
            if ends_here {
                // A wanted field (rare: a handful per event): materialise this value only.
                let v: serde_json::Value = map.next_value()?;
                for (i, d) in &next {
                    let Some(f) = fields.get(*i) else { continue };
                    let found = lookup(&v, f.get(*d..).unwrap_or_default());
                    if let (Some(slot), Some(x)) = (out.get_mut(*i), found) {
                        *slot = Val::from_json(x);
                    }
                }
            } else {
                map.next_value_seed(Walk {
                    fields,
                    cands: &next,
                    out,
                })?;
            }
        }
        Ok(())
    }
}

/// Follow the remaining path inside a materialised value (keys may be nested or dotted).
fn lookup<'v>(v: &'v serde_json::Value, rest: &[String]) -> Option<&'v serde_json::Value> {
    if rest.is_empty() {
        return Some(v);
    }
    let obj = v.as_object()?;
    for (k, inner) in obj {
        if let Some(n) = prefix_len(k, rest) {
            if let Some(found) = lookup(inner, rest.get(n..).unwrap_or_default()) {
                return Some(found);
            }
        }
    }
    None
}

/// If `key` (possibly dotted) equals the first segments of `rest`, how many it covers.
fn prefix_len(key: &str, rest: &[String]) -> Option<usize> {
    let mut n = 0;
    for part in key.split('.') {
        if rest.get(n).map(String::as_str) != Some(part) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

struct KeyMatch<'a> {
    fields: &'a [Vec<String>],
    cands: &'a [(usize, usize)],
}

impl<'de> DeserializeSeed<'de> for KeyMatch<'_> {
    type Value = Vec<(usize, usize)>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyMatch<'_> {
    type Value = Vec<(usize, usize)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        let mut next = Vec::new();
        for &(i, d) in self.cands {
            let Some(rest) = self.fields.get(i).and_then(|f| f.get(d..)) else {
                continue;
            };
            if let Some(n) = prefix_len(key, rest) {
                next.push((i, d + n));
            }
        }
        Ok(next)
    }
}

/// Human-readable list of the fields a route reads (diagnostics).
pub fn describe(r: &Route) -> String {
    let mut s = String::new();
    for (n, f) in r.fields.iter().enumerate() {
        if n > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}", f.join("."));
    }
    s
}

/// Topics a route can name without looking at an event (its literal topics), for diagnostics.
pub fn static_topics(r: &Route) -> BTreeMap<String, ()> {
    let mut m = BTreeMap::new();
    m.insert(r.default_topic.clone(), ());
    for rule in &r.rules {
        if let Some(d) = &rule.default {
            m.insert(d.clone(), ());
        }
        for (_, t) in &rule.mappings {
            m.insert(t.clone(), ());
        }
    }
    m
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    const EV: &[u8] = br#"{"@timestamp":"x","event":{"category":["network"],"dataset":"http","duration":265000},"network":{"community_id":"1:abc=","bytes":400},"tags":["a","b"],"flat.key":"v"}"#;

    fn route(topic: Option<&str>, rules: &str, key: &str) -> Route {
        let rules: Vec<TopicRule> = if rules.is_empty() {
            Vec::new()
        } else {
            serde_yaml_ng::from_str(rules).unwrap()
        };
        Route::new(topic, rules, key, "packetbeat").unwrap()
    }

    #[test]
    fn format_and_key() {
        let r = route(
            Some("pb-%{[event.dataset]}"),
            "",
            "%{[network.community_id]}",
        );
        let mut s = Scratch::default();
        assert!(r.eval(EV, &mut s));
        assert_eq!(s.topic, "pb-http");
        assert_eq!(s.key, "1:abc=");
        let r = route(
            Some("%{[event][dataset]}-%{[flat.key]}"),
            "",
            "%{[missing]}",
        );
        assert!(!r.eval(EV, &mut s));
        assert_eq!(s.topic, "http-v");
        let r = route(Some("%{[nope]}"), "", "%{[nope]:dflt}");
        assert!(r.eval(EV, &mut s));
        assert_eq!(s.topic, "packetbeat");
        assert_eq!(s.key, "dflt");
    }

    #[test]
    fn rules() {
        let rules = r#"
- topic: "flows"
  when: {equals: {event: {dataset: flow}}}
- topic: "%{[event.dataset]}"
  mappings: {http: web}
  default: other
  when: {and: [{contains: {tags: b}}, {range: {network.bytes: {gte: 100}}}]}
"#;
        let r = route(Some("fallback"), rules, "");
        let mut s = Scratch::default();
        assert!(!r.eval(EV, &mut s));
        assert_eq!(s.topic, "web");
        let ev2 = br#"{"event":{"dataset":"flow"},"tags":[]}"#;
        r.eval(ev2, &mut s);
        assert_eq!(s.topic, "flows");
        let ev3 = br#"{"event":{"dataset":"dns"},"tags":["b"],"network":{"bytes":5}}"#;
        r.eval(ev3, &mut s);
        assert_eq!(s.topic, "fallback");
        assert!(Route::new(
            None,
            serde_yaml_ng::from_str("- when: {regexp: {a: b}}\n  topic: x").unwrap(),
            "",
            "p"
        )
        .is_err());
        assert!(Route::new(Some("%{bad}"), Vec::new(), "", "p").is_err());
        r.eval(b"not json", &mut s);
        assert_eq!(s.topic, "fallback");
    }
}
