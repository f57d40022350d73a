//! libbeat conditions (`when:`): `equals`, `contains`, `regexp`, `range`, `network`,
//! `has_fields`, `or`, `and`, `not`.
//!
//! Field maps are flattened first, so `equals: {http.response.status_code: 200}` and
//! `equals: {http: {response: {status_code: 200}}}` are the same condition. A condition with
//! several fields matches when all of them match; a missing field never matches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::config::{flatten, kind, to_string};
use super::fields;

/// Names of the conditions, as written in the config.
pub const CONDITION_NAMES: &[&str] = &[
    "equals",
    "contains",
    "regexp",
    "range",
    "network",
    "has_fields",
    "or",
    "and",
    "not",
];

/// Names of the IP ranges the `network` condition knows besides CIDRs.
pub const NAMED_NETWORKS: &[&str] = &[
    "loopback",
    "global_unicast",
    "unicast",
    "link_local_unicast",
    "interface_local_multicast",
    "link_local_multicast",
    "multicast",
    "unspecified",
    "private",
    "public",
];

/// A compiled condition.
#[derive(Clone, Debug)]
pub enum Condition {
    /// Every field equals its value (strings, numbers and booleans compare with their own kind).
    Equals(Vec<(String, EqValue)>),
    /// Every field (a string, or a list with a string element) contains its substring.
    Contains(Vec<(String, String)>),
    /// Every field (a string, or a list with a string element) matches its regular expression
    /// (unanchored, RE2 syntax as in Go).
    Regexp(Vec<(String, Regex)>),
    /// Every numeric field lies in its bounds.
    Range(Vec<(String, Bounds)>),
    /// Every field (an IP string or a list of them) has an address in one of its networks.
    Network(Vec<(String, Vec<Net>)>),
    /// Every field is present.
    HasFields(Vec<String>),
    /// Any sub-condition matches.
    Or(Vec<Condition>),
    /// All sub-conditions match.
    And(Vec<Condition>),
    /// The sub-condition does not match.
    Not(Box<Condition>),
}

/// The value of an `equals` entry.
#[derive(Clone, Debug, PartialEq)]
pub enum EqValue {
    /// Equal to this string.
    Str(String),
    /// Numerically equal to this number.
    Num(Number),
    /// Equal to this boolean.
    Bool(bool),
}

/// The bounds of a `range` entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bounds {
    /// `>=`
    pub gte: Option<f64>,
    /// `>`
    pub gt: Option<f64>,
    /// `<=`
    pub lte: Option<f64>,
    /// `<`
    pub lt: Option<f64>,
}

impl Bounds {
    fn contains(&self, x: f64) -> bool {
        self.gte.is_none_or(|b| x >= b)
            && self.gt.is_none_or(|b| x > b)
            && self.lte.is_none_or(|b| x <= b)
            && self.lt.is_none_or(|b| x < b)
    }
}

/// One network of a `network` entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Net {
    /// A named range (one of [`NAMED_NETWORKS`]).
    Named(&'static str),
    /// A CIDR block (host bits cleared).
    Cidr(IpAddr, u8),
}

impl Condition {
    /// Compile a condition from its config (already converted to JSON); `path` names it in
    /// errors (e.g. `when`).
    pub fn parse(v: &Value, path: &str) -> Result<Condition, String> {
        let m = match v {
            Value::Object(m) => m,
            other => {
                return Err(format!(
                    "{path}: a condition must be a mapping with one of {}, found {}",
                    CONDITION_NAMES.join(", "),
                    kind(other)
                ))
            }
        };
        let mut it = m.iter();
        let (name, body) = match (it.next(), it.next()) {
            (Some(first), None) => first,
            (None, _) => {
                return Err(format!(
                    "{path}: empty condition; use one of {}",
                    CONDITION_NAMES.join(", ")
                ))
            }
            (Some(_), Some(_)) => {
                let names: Vec<&str> = m.keys().map(String::as_str).collect();
                return Err(format!(
                    "{path}: a condition takes exactly one of {}, but this one has {}; combine several with `and` or `or`",
                    CONDITION_NAMES.join(", "),
                    names.join(", ")
                ));
            }
        };
        let here = format!("{path}.{name}");
        match name.as_str() {
            "equals" => {
                let entries = field_map(body, &here)?
                    .into_iter()
                    .map(|(f, v)| {
                        let ev = match v {
                            Value::String(s) => EqValue::Str(s),
                            Value::Number(n) => EqValue::Num(n),
                            Value::Bool(b) => EqValue::Bool(b),
                            other => {
                                return Err(format!(
                                    "{here}.{f}: expected a string, number or boolean, found {}",
                                    kind(&other)
                                ))
                            }
                        };
                        Ok((f, ev))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Condition::Equals(entries))
            }
            "contains" => {
                let entries = field_map(body, &here)?
                    .into_iter()
                    .map(|(f, v)| match v {
                        Value::String(s) => Ok((f, s)),
                        other => Err(format!(
                            "{here}.{f}: expected a string, found {}",
                            kind(&other)
                        )),
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Condition::Contains(entries))
            }
            "regexp" => {
                let entries = field_map(body, &here)?
                    .into_iter()
                    .map(|(f, v)| match v {
                        Value::String(s) => Regex::new(&s)
                            .map(|re| (f.clone(), re))
                            .map_err(|e| format!("{here}.{f}: invalid regular expression: {e}")),
                        other => Err(format!(
                            "{here}.{f}: expected a regular expression string, found {}",
                            kind(&other)
                        )),
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Condition::Regexp(entries))
            }
            "range" => parse_range(body, &here),
            "network" => {
                let entries = field_map(body, &here)?
                    .into_iter()
                    .map(|(f, v)| {
                        let nets = match v {
                            Value::String(s) => vec![parse_net(&s, &here, &f)?],
                            Value::Array(items) if !items.is_empty() => items
                                .iter()
                                .map(|item| match item {
                                    Value::String(s) => parse_net(s, &here, &f),
                                    other => Err(format!(
                                        "{here}.{f}: expected network names or CIDRs, found {}",
                                        kind(other)
                                    )),
                                })
                                .collect::<Result<_, _>>()?,
                            other => {
                                return Err(format!(
                                    "{here}.{f}: expected a network name, a CIDR or a list of them, found {}",
                                    kind(&other)
                                ))
                            }
                        };
                        Ok((f, nets))
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Condition::Network(entries))
            }
            "has_fields" => {
                let list = match body {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| {
                            to_string(i).ok_or_else(|| {
                                format!("{here}: expected field names, found {}", kind(i))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Value::String(s) => vec![s.clone()],
                    other => {
                        return Err(format!(
                            "{here}: expected a list of field names, found {}",
                            kind(other)
                        ))
                    }
                };
                if list.is_empty() {
                    return Err(format!("{here}: the list of fields is empty"));
                }
                Ok(Condition::HasFields(list))
            }
            "or" | "and" => {
                let items = match body {
                    Value::Array(items) if !items.is_empty() => items,
                    other => {
                        return Err(format!(
                            "{here}: expected a non-empty list of conditions, found {}",
                            describe(other)
                        ))
                    }
                };
                let subs = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Condition::parse(c, &format!("{here}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if name == "or" {
                    Condition::Or(subs)
                } else {
                    Condition::And(subs)
                })
            }
            "not" => Ok(Condition::Not(Box::new(Condition::parse(body, &here)?))),
            other => Err(format!(
                "{path}: unknown condition `{other}` (supported: {})",
                CONDITION_NAMES.join(", ")
            )),
        }
    }

    /// Whether the event matches.
    pub fn check(&self, ev: &Map<String, Value>) -> bool {
        match self {
            Condition::Equals(entries) => {
                entries
                    .iter()
                    .all(|(f, want)| match (fields::get(ev, f), want) {
                        (Some(Value::String(s)), EqValue::Str(w)) => s == w,
                        (Some(Value::Number(n)), EqValue::Num(w)) => num_eq(n, w),
                        (Some(Value::Bool(b)), EqValue::Bool(w)) => b == w,
                        _ => false,
                    })
            }
            Condition::Contains(entries) => entries
                .iter()
                .all(|(f, sub)| match_strings(fields::get(ev, f), |s| s.contains(sub.as_str()))),
            Condition::Regexp(entries) => entries
                .iter()
                .all(|(f, re)| match_strings(fields::get(ev, f), |s| re.is_match(s))),
            Condition::Range(entries) => entries.iter().all(|(f, b)| match fields::get(ev, f) {
                Some(Value::Number(n)) => n.as_f64().is_some_and(|x| b.contains(x)),
                _ => false,
            }),
            Condition::Network(entries) => entries.iter().all(|(f, nets)| {
                let in_nets =
                    |s: &str| parse_ip(s).is_some_and(|ip| nets.iter().any(|n| n.contains(ip)));
                match fields::get(ev, f) {
                    Some(Value::String(s)) => in_nets(s),
                    Some(Value::Array(items)) => {
                        items.iter().any(|i| i.as_str().is_some_and(in_nets))
                    }
                    _ => false,
                }
            }),
            Condition::HasFields(list) => list.iter().all(|f| fields::has(ev, f)),
            Condition::Or(subs) => subs.iter().any(|c| c.check(ev)),
            Condition::And(subs) => subs.iter().all(|c| c.check(ev)),
            Condition::Not(sub) => !sub.check(ev),
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Array(a) if a.is_empty() => "an empty list".to_owned(),
        other => kind(other).to_owned(),
    }
}

/// The flattened, non-empty field map of `equals`/`contains`/`regexp`/`range`/`network`.
fn field_map(body: &Value, here: &str) -> Result<Vec<(String, Value)>, String> {
    let m = match body {
        Value::Object(m) => m.clone(),
        other => {
            return Err(format!(
                "{here}: expected a mapping of field names to values, found {}",
                kind(other)
            ))
        }
    };
    let entries = flatten(m);
    if entries.is_empty() {
        return Err(format!("{here}: no fields given"));
    }
    Ok(entries)
}

fn parse_range(body: &Value, here: &str) -> Result<Condition, String> {
    let mut out: Vec<(String, Bounds)> = Vec::new();
    for (key, v) in field_map(body, here)? {
        let (field, op) = key.rsplit_once('.').ok_or_else(|| {
            format!("{here}.{key}: expected `<field>.<op>` with op gt, gte, lt or lte")
        })?;
        let x = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{here}.{key}: expected a number, found {}", kind(&v)))?;
        let pos = match out.iter().position(|(f, _)| f == field) {
            Some(p) => p,
            None => {
                out.push((field.to_owned(), Bounds::default()));
                out.len() - 1
            }
        };
        let Some((_, b)) = out.get_mut(pos) else {
            continue;
        };
        match op {
            "gte" => b.gte = Some(x),
            "gt" => b.gt = Some(x),
            "lte" => b.lte = Some(x),
            "lt" => b.lt = Some(x),
            other => {
                return Err(format!(
                    "{here}.{key}: unknown range operator `{other}` (supported: gt, gte, lt, lte)"
                ))
            }
        }
    }
    Ok(Condition::Range(out))
}

/// A CIDR or a named network; errors name `here.field`.
pub fn parse_net(s: &str, here: &str, field: &str) -> Result<Net, String> {
    if let Some(name) = NAMED_NETWORKS.iter().find(|n| **n == s) {
        return Ok(Net::Named(name));
    }
    parse_cidr(s).ok_or_else(|| {
        format!(
            "{here}.{field}: `{s}` is neither a CIDR (like 192.0.2.0/24 or 2001:db8::/32) nor a named network ({})",
            NAMED_NETWORKS.join(", ")
        )
    })
}

/// Parse `addr/prefix`, clearing host bits (Go's `net.ParseCIDR`).
pub fn parse_cidr(s: &str) -> Option<Net> {
    let (addr, len) = s.split_once('/')?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) if len <= 32 => Some(Net::Cidr(IpAddr::V4(mask_v4(a, len)), len)),
        IpAddr::V6(a) if len <= 128 => Some(Net::Cidr(IpAddr::V6(mask_v6(a, len)), len)),
        _ => None,
    }
}

fn mask_v4(a: Ipv4Addr, len: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(a) & mask)
}

fn mask_v6(a: Ipv6Addr, len: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    Ipv6Addr::from(u128::from(a) & mask)
}

/// Parse an IP as Go's `net.ParseIP` does (IPv4-mapped IPv6 addresses become IPv4).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

impl Net {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match self {
            Net::Cidr(IpAddr::V4(n), len) => match ip {
                IpAddr::V4(a) => mask_v4(a, *len) == *n,
                IpAddr::V6(_) => false,
            },
            Net::Cidr(IpAddr::V6(n), len) => match ip {
                IpAddr::V6(a) => mask_v6(a, *len) == *n,
                IpAddr::V4(_) => false,
            },
            Net::Named(name) => named_contains(name, ip),
        }
    }
}

fn is_link_local_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments().first().is_some_and(|s| s & 0xffc0 == 0xfe80),
    }
}

fn is_link_local_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => matches!(a.octets(), [224, 0, 0, _]),
        IpAddr::V6(a) => a.segments().first().is_some_and(|s| s & 0xff0f == 0xff02),
    }
}

fn is_interface_local_multicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(a) => a.segments().first().is_some_and(|s| s & 0xff0f == 0xff01),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private(),
        IpAddr::V6(a) => a.octets().first() == Some(&0xfd),
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}

fn is_global_unicast(ip: IpAddr) -> bool {
    !is_broadcast(ip)
        && !ip.is_unspecified()
        && !ip.is_loopback()
        && !ip.is_multicast()
        && !is_link_local_unicast(ip)
}

/// The named ranges, with Go's `net.IP` predicates (which libbeat uses).
fn named_contains(name: &str, ip: IpAddr) -> bool {
    match name {
        "loopback" => ip.is_loopback(),
        "global_unicast" | "unicast" => is_global_unicast(ip),
        "link_local_unicast" => is_link_local_unicast(ip),
        "interface_local_multicast" => is_interface_local_multicast(ip),
        "link_local_multicast" => is_link_local_multicast(ip),
        "multicast" => ip.is_multicast(),
        "unspecified" => ip.is_unspecified(),
        "private" => is_private(ip),
        "public" => {
            !(is_private(ip)
                || ip.is_loopback()
                || ip.is_unspecified()
                || is_broadcast(ip)
                || is_link_local_unicast(ip)
                || is_link_local_multicast(ip)
                || is_interface_local_multicast(ip))
        }
        _ => false,
    }
}

/// Numeric equality: integers compare exactly, otherwise as floats.
fn num_eq(a: &Number, b: &Number) -> bool {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Match a string field, or any string element of a list field.
fn match_strings(v: Option<&Value>, f: impl Fn(&str) -> bool) -> bool {
    match v {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str().is_some_and(&f)),
        _ => false,
    }
}
