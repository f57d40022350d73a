//! The processors themselves: their options and what they do to an event.

use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use super::config::{kind, string_list, to_string, Opts};
use super::fields::{self, Event};
use crate::hostinfo::HostInfo;

/// Fields no processor removes (libbeat keeps `@timestamp` outside the fields and refuses to
/// drop `type`).
pub const PROTECTED_FIELDS: &[&str] = &["@timestamp", "type"];

/// What a processor does.
#[derive(Clone, Debug)]
pub enum Action {
    /// `add_fields`: deep-merge `fields` under `target` (overwriting).
    AddFields {
        /// Dotted path the fields go under; empty = the event root.
        target: String,
        /// The fields (dotted keys already expanded).
        fields: Map<String, Value>,
    },
    /// `drop_fields`.
    DropFields {
        /// Exact field paths.
        fields: Vec<String>,
        /// `/regex/` entries, matched against every key path of the event.
        patterns: Vec<Regex>,
        /// Missing fields are not an error.
        ignore_missing: bool,
    },
    /// `include_fields`: keep only these (plus `@timestamp`, `@metadata` and `type`).
    IncludeFields {
        /// Field paths to keep.
        fields: Vec<String>,
    },
    /// `drop_event`.
    DropEvent,
    /// `rename`.
    Rename {
        /// `(from, to)` pairs, applied in order.
        fields: Vec<(String, String)>,
        /// A missing `from` is not an error.
        ignore_missing: bool,
        /// On error, restore the event and set `error.message`.
        fail_on_error: bool,
    },
    /// `add_tags`: append to the list at `target`.
    AddTags {
        /// Dotted path of the list.
        target: String,
        /// Tags to append.
        tags: Vec<String>,
    },
    /// `add_host_metadata`.
    AddHostMetadata {
        /// The `host` object written.
        host: Map<String, Value>,
        /// When false, events that already carry host fields other than `host.name` are left
        /// alone.
        replace_fields: bool,
    },
    /// `add_observer_metadata`.
    AddObserverMetadata {
        /// The `observer` object written.
        observer: Map<String, Value>,
        /// Replace an existing `observer` object (otherwise events that have one are left alone).
        overwrite: bool,
    },
}

/// The outcome of one processor on one event.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Go on with the next processor.
    Keep,
    /// The event is dropped.
    Drop,
}

/// Names of the processors, as written in the config.
pub const PROCESSOR_NAMES: &[&str] = &[
    "add_fields",
    "add_host_metadata",
    "add_observer_metadata",
    "add_tags",
    "drop_event",
    "drop_fields",
    "include_fields",
    "rename",
];

/// `geo.*` options of the metadata processors.
const GEO_KEYS: &[&str] = &[
    "name",
    "location",
    "continent_name",
    "country_name",
    "country_iso_code",
    "region_name",
    "region_iso_code",
    "city_name",
];

impl Action {
    /// Build the processor `name` from its options (the `when` option already taken out).
    /// `None` when the name is unknown.
    pub fn build(name: &str, mut o: Opts, host: &Arc<HostInfo>) -> Option<Result<Action, String>> {
        let r = match name {
            "add_fields" => add_fields(&mut o),
            "drop_fields" => drop_fields(&mut o),
            "include_fields" => include_fields(&mut o),
            "drop_event" => Ok(Action::DropEvent),
            "rename" => rename(&mut o),
            "add_tags" => add_tags(&mut o),
            "add_host_metadata" => add_host_metadata(&mut o, host),
            "add_observer_metadata" => add_observer_metadata(&mut o, host),
            _ => return None,
        };
        Some(r)
    }

    /// The options each processor accepts (besides `when`).
    pub fn allowed_options(name: &str) -> &'static [&'static str] {
        match name {
            "add_fields" => &["fields", "target"],
            "drop_fields" => &["fields", "ignore_missing"],
            "include_fields" => &["fields"],
            "rename" => &["fields", "ignore_missing", "fail_on_error"],
            "add_tags" => &["tags", "target"],
            "add_host_metadata" => &[
                "netinfo",
                "cache",
                "geo",
                "name",
                "replace_fields",
                "expire_update_timeout",
            ],
            "add_observer_metadata" => &["netinfo", "cache", "geo", "overwrite"],
            _ => &[],
        }
    }

    /// Apply to one event. Errors leave the event as libbeat would (see each processor) and are
    /// reported to the caller, which only logs them in libbeat.
    pub fn apply(&self, ev: &mut Event) -> Result<Outcome, String> {
        match self {
            Action::AddFields { target, fields } => {
                if !fields.is_empty() {
                    if let Value::Object(m) = fields::nest(target, Value::Object(fields.clone())) {
                        fields::deep_merge(ev, m);
                    }
                }
                Ok(Outcome::Keep)
            }
            Action::DropFields {
                fields,
                patterns,
                ignore_missing,
            } => {
                let mut errs = Vec::new();
                for f in fields {
                    if PROTECTED_FIELDS.contains(&f.as_str()) {
                        continue;
                    }
                    if fields::delete(ev, f).is_none() && !ignore_missing {
                        errs.push(format!("failed to drop field [{f}]: key not found"));
                    }
                }
                if !patterns.is_empty() {
                    for key in fields::flatten_keys(ev) {
                        if PROTECTED_FIELDS.contains(&key.as_str()) {
                            continue;
                        }
                        if patterns.iter().any(|re| re.is_match(&key)) {
                            // A parent matched and removed earlier takes its children with it.
                            fields::delete(ev, &key);
                        }
                    }
                }
                if errs.is_empty() {
                    Ok(Outcome::Keep)
                } else {
                    Err(errs.join("; "))
                }
            }
            Action::IncludeFields { fields } => {
                let mut kept = Map::new();
                for f in
                    fields
                        .iter()
                        .map(String::as_str)
                        .chain(["@timestamp", "@metadata", "type"])
                {
                    if let Some(keys) = fields::resolve(ev, f) {
                        if let Some(v) = fields::get(ev, f) {
                            fields::put_keys(&mut kept, &keys, v.clone());
                        }
                    }
                }
                *ev = kept;
                Ok(Outcome::Keep)
            }
            Action::DropEvent => Ok(Outcome::Drop),
            Action::Rename {
                fields,
                ignore_missing,
                fail_on_error,
            } => {
                let backup = fail_on_error.then(|| ev.clone());
                let mut errs = Vec::new();
                for (from, to) in fields {
                    if let Err(e) = rename_one(ev, from, to, *ignore_missing) {
                        if let Some(backup) = backup {
                            *ev = backup;
                            let msg = format!("Failed to rename fields in processor: {e}");
                            // As libbeat: a failure to record the error is ignored.
                            let _ = fields::put(ev, "error.message", Value::String(msg.clone()));
                            return Err(msg);
                        }
                        errs.push(e);
                    }
                }
                if errs.is_empty() {
                    Ok(Outcome::Keep)
                } else {
                    Err(errs.join("; "))
                }
            }
            Action::AddTags { target, tags } => {
                if tags.is_empty() {
                    return Ok(Outcome::Keep);
                }
                let new = tags.iter().cloned().map(Value::String);
                match fields::resolve(ev, target) {
                    None => {
                        fields::put(ev, target, Value::Array(new.collect())).map(|()| Outcome::Keep)
                    }
                    Some(keys) => match get_mut_keys(ev, &keys) {
                        Some(Value::Array(list)) => {
                            list.extend(new);
                            Ok(Outcome::Keep)
                        }
                        Some(other) => Err(format!(
                            "cannot add tags to `{target}`: it is {}, not a list",
                            kind(other)
                        )),
                        None => Ok(Outcome::Keep),
                    },
                }
            }
            Action::AddHostMetadata {
                host,
                replace_fields,
            } => {
                if !replace_fields && has_host_fields(ev) {
                    return Ok(Outcome::Keep);
                }
                let mut m = Map::new();
                m.insert("host".to_owned(), Value::Object(host.clone()));
                fields::deep_merge(ev, m);
                Ok(Outcome::Keep)
            }
            Action::AddObserverMetadata {
                observer,
                overwrite,
            } => {
                let exists = fields::has(ev, "observer");
                if exists && !overwrite {
                    return Ok(Outcome::Keep);
                }
                if exists {
                    fields::delete(ev, "observer");
                }
                let mut m = Map::new();
                m.insert("observer".to_owned(), Value::Object(observer.clone()));
                fields::deep_merge(ev, m);
                Ok(Outcome::Keep)
            }
        }
    }
}

fn get_mut_keys<'a>(m: &'a mut Map<String, Value>, keys: &[String]) -> Option<&'a mut Value> {
    let (parent, last) = fields::parent_mut(m, keys)?;
    parent.get_mut(last)
}

/// libbeat's skip test for `replace_fields: false`: the event has a `host` object with more than
/// just `host.name`.
fn has_host_fields(ev: &Event) -> bool {
    match fields::get(ev, "host") {
        Some(Value::Object(m)) => !(m.len() == 1 && m.contains_key("name")),
        _ => false,
    }
}

fn rename_one(ev: &mut Event, from: &str, to: &str, ignore_missing: bool) -> Result<(), String> {
    if fields::has(ev, to) {
        return Err(format!(
            "target field {to} already exists, drop or rename this field first"
        ));
    }
    let Some(v) = fields::delete(ev, from) else {
        if ignore_missing {
            return Ok(());
        }
        return Err(format!(
            "could not fetch value for key: {from}, Error: key not found"
        ));
    };
    fields::put(ev, to, v).map_err(|e| format!("could not put value: {to}: {e}"))
}

fn add_fields(o: &mut Opts) -> Result<Action, String> {
    let fields = match o.required("fields")? {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            return Err(format!(
                "option `fields` must be a mapping of field names to values, found {}",
                kind(&other)
            ))
        }
    };
    let target = match o.take("target") {
        None => "fields".to_owned(),
        Some(Value::String(s)) => s,
        Some(Value::Null) => return Err(
            "option `target` is empty; write `target: \"\"` to add the fields at the event root"
                .to_owned(),
        ),
        Some(other) => {
            return Err(format!(
                "option `target` must be a string, found {}",
                kind(&other)
            ))
        }
    };
    Ok(Action::AddFields { target, fields })
}

fn drop_fields(o: &mut Opts) -> Result<Action, String> {
    let list = string_list(o.required("fields")?, "option `fields`")?;
    let ignore_missing = o.bool("ignore_missing", false)?;
    let mut fields = Vec::new();
    let mut patterns = Vec::new();
    for f in list {
        match f.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) if !re.is_empty() => patterns
                .push(Regex::new(re).map_err(|e| {
                    format!("option `fields`: invalid regular expression {f}: {e}")
                })?),
            _ => fields.push(f),
        }
    }
    Ok(Action::DropFields {
        fields,
        patterns,
        ignore_missing,
    })
}

fn include_fields(o: &mut Opts) -> Result<Action, String> {
    let fields = string_list(o.required("fields")?, "option `fields`")?;
    Ok(Action::IncludeFields { fields })
}

fn rename(o: &mut Opts) -> Result<Action, String> {
    let list = match o.required("fields")? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => {
            return Err(format!(
                "option `fields` must be a list of `{{from: .., to: ..}}` entries, found {}",
                kind(&other)
            ))
        }
    };
    let mut fields = Vec::new();
    for (i, item) in list.into_iter().enumerate() {
        let mut e = Opts::new(item, &["from", "to"]).map_err(|e| format!("fields[{i}]: {e}"))?;
        let from = e
            .string("from")
            .and_then(|f| f.ok_or_else(|| "missing required option `from`".to_owned()))
            .map_err(|e| format!("fields[{i}]: {e}"))?;
        let to = e
            .string("to")
            .and_then(|f| f.ok_or_else(|| "missing required option `to`".to_owned()))
            .map_err(|e| format!("fields[{i}]: {e}"))?;
        if from.is_empty() || to.is_empty() {
            return Err(format!("fields[{i}]: `from` and `to` must not be empty"));
        }
        fields.push((from, to));
    }
    Ok(Action::Rename {
        fields,
        ignore_missing: o.bool("ignore_missing", false)?,
        fail_on_error: o.bool("fail_on_error", true)?,
    })
}

fn add_tags(o: &mut Opts) -> Result<Action, String> {
    let tags = string_list(o.required("tags")?, "option `tags`")?;
    let target = match o.string("target")? {
        Some(t) if !t.is_empty() => t,
        _ => "tags".to_owned(),
    };
    Ok(Action::AddTags { target, tags })
}

/// `netinfo.enabled` (default true, as in 8.x) and the accepted-but-unused `cache.ttl`.
fn netinfo_and_cache(o: &mut Opts) -> Result<bool, String> {
    let netinfo = match o.block("netinfo", &["enabled"])? {
        Some(mut n) => n
            .bool("enabled", true)
            .map_err(|e| format!("in `netinfo`: {e}"))?,
        None => true,
    };
    if let Some(mut c) = o.block("cache", &["ttl"])? {
        // The host data is gathered once at start-up; the TTL only has to be well-formed.
        if let Some(v) = c.take("ttl") {
            if to_string(&v).is_none() {
                return Err(format!(
                    "in `cache`: option `ttl` must be a duration, found {}",
                    kind(&v)
                ));
            }
        }
    }
    Ok(netinfo)
}

/// `geo.*` as libbeat writes it: blank values left out; `location` must be `lat, lon`.
fn geo(o: &mut Opts) -> Result<Option<Map<String, Value>>, String> {
    let Some(mut g) = o.block("geo", GEO_KEYS)? else {
        return Ok(None);
    };
    let mut out = Map::new();
    for key in GEO_KEYS {
        let v = g.string(key).map_err(|e| format!("in `geo`: {e}"))?;
        if let Some(v) = v.filter(|v| !v.trim().is_empty()) {
            if *key == "location" && !valid_location(&v) {
                return Err(format!(
                    "in `geo`: invalid `location` {v:?}: expected `lat, lon` like `40.7128, -74.0060`"
                ));
            }
            out.insert((*key).to_owned(), Value::String(v));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

fn valid_location(s: &str) -> bool {
    let number = |t: &str| {
        let t = t.trim();
        let t = t.strip_prefix('-').unwrap_or(t);
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (t, None),
        };
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    matches!(s.split_once(','), Some((lat, lon)) if number(lat) && number(lon))
}

fn add_host_metadata(o: &mut Opts, host: &Arc<HostInfo>) -> Result<Action, String> {
    let netinfo = netinfo_and_cache(o)?;
    let geo = geo(o)?;
    let name = o.string("name")?;
    let replace_fields = o.bool("replace_fields", true)?;
    if let Some(v) = o.take("expire_update_timeout") {
        if to_string(&v).is_none() {
            return Err(format!(
                "option `expire_update_timeout` must be a duration, found {}",
                kind(&v)
            ));
        }
    }
    let mut data = host.host_fields(netinfo);
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        data.insert("name".to_owned(), Value::String(name));
    }
    if let Some(geo) = geo {
        data.insert("geo".to_owned(), Value::Object(geo));
    }
    Ok(Action::AddHostMetadata {
        host: data,
        replace_fields,
    })
}

fn add_observer_metadata(o: &mut Opts, host: &Arc<HostInfo>) -> Result<Action, String> {
    let netinfo = netinfo_and_cache(o)?;
    let geo = geo(o)?;
    let overwrite = o.bool("overwrite", false)?;
    let mut data = host.observer_fields(netinfo);
    if let Some(geo) = geo {
        data.insert("geo".to_owned(), Value::Object(geo));
    }
    Ok(Action::AddObserverMetadata {
        observer: data,
        overwrite,
    })
}
