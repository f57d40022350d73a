//! Event field access by dotted path, with libbeat's `mapstr` semantics.
//!
//! A path such as `http.response.status_code` walks nested objects. A literal key that contains
//! dots (`{"dns.question.name": ..}`) is honoured at any level: at each object the whole remaining
//! path is tried as a key first, then every existing object prefix, shortest first
//! (`a.b.c` → `a` then `b.c`, `a` then `b` then `c`, `a.b` then `c`). Setting a path that does
//! not exist creates the nested objects.

use serde_json::{Map, Value};

/// An event: the JSON object that is published.
pub type Event = Map<String, Value>;

/// Split `path` at the byte index `i` of a dot: `(head, rest)`.
fn split_at_dot(path: &str, i: usize) -> Option<(&str, &str)> {
    Some((path.get(..i)?, path.get(i + 1..)?))
}

/// The value at `path`, if any (a JSON `null` counts as present).
pub fn get<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = m.get(path) {
        return Some(v);
    }
    for (i, _) in path.match_indices('.') {
        let Some((head, rest)) = split_at_dot(path, i) else {
            continue;
        };
        if let Some(Value::Object(sub)) = m.get(head) {
            if let Some(v) = get(sub, rest) {
                return Some(v);
            }
        }
    }
    None
}

/// Whether `path` is present.
pub fn has(m: &Map<String, Value>, path: &str) -> bool {
    get(m, path).is_some()
}

/// The keys walked to reach `path` (as [`get`] finds it), outermost first.
pub fn resolve(m: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
    if m.contains_key(path) {
        return Some(vec![path.to_owned()]);
    }
    for (i, _) in path.match_indices('.') {
        let Some((head, rest)) = split_at_dot(path, i) else {
            continue;
        };
        if let Some(Value::Object(sub)) = m.get(head) {
            if let Some(mut keys) = resolve(sub, rest) {
                keys.insert(0, head.to_owned());
                return Some(keys);
            }
        }
    }
    None
}

/// The object holding the last of `keys` (as [`resolve`] returns them), and that key.
pub fn parent_mut<'a, 'k>(
    m: &'a mut Map<String, Value>,
    keys: &'k [String],
) -> Option<(&'a mut Map<String, Value>, &'k String)> {
    let (last, parents) = keys.split_last()?;
    let mut cur = m;
    for k in parents {
        cur = match cur.get_mut(k) {
            Some(Value::Object(o)) => o,
            _ => return None,
        };
    }
    Some((cur, last))
}

/// Remove the value at `path`; `None` when it is not there.
pub fn delete(m: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let keys = resolve(m, path)?;
    let (parent, last) = parent_mut(m, &keys)?;
    parent.remove(last)
}

/// Set `path` to `v`, creating the missing objects on the way. An existing literal key equal to
/// the remaining path is replaced; an existing object prefix is descended into. Fails (leaving
/// `m` unchanged) when a value on the way is not an object.
pub fn put(m: &mut Map<String, Value>, path: &str, v: Value) -> Result<(), String> {
    if let Some(slot) = m.get_mut(path) {
        *slot = v;
        return Ok(());
    }
    let mut descend: Option<(String, String)> = None;
    for (i, _) in path.match_indices('.') {
        if let Some((head, rest)) = split_at_dot(path, i) {
            if matches!(m.get(head), Some(Value::Object(_))) {
                descend = Some((head.to_owned(), rest.to_owned()));
                break;
            }
        }
    }
    if let Some((head, rest)) = descend {
        return match m.get_mut(&head) {
            Some(Value::Object(sub)) => put(sub, &rest, v),
            _ => Err(format!("`{head}` is not an object")),
        };
    }
    match path.split_once('.') {
        None => {
            m.insert(path.to_owned(), v);
            Ok(())
        }
        Some((head, rest)) => {
            if m.contains_key(head) {
                return Err(format!(
                    "cannot set `{path}`: `{head}` exists and is not an object"
                ));
            }
            let mut sub = Map::new();
            put(&mut sub, rest, v)?;
            m.insert(head.to_owned(), Value::Object(sub));
            Ok(())
        }
    }
}

/// Set the value reached by walking exactly `keys` (creating objects, replacing non-objects on
/// the way). Used to copy a field while keeping its key layout.
pub fn put_keys(m: &mut Map<String, Value>, keys: &[String], v: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = m;
    for k in parents {
        let slot = cur
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        cur = match slot {
            Value::Object(o) => o,
            _ => return,
        };
    }
    cur.insert(last.clone(), v);
}

/// Merge `src` into `dst` deeply: objects merge key by key, any other value replaces
/// (libbeat's `DeepUpdate`).
pub fn deep_merge(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(&k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => deep_merge(d, s),
            (_, v) => {
                dst.insert(k, v);
            }
        }
    }
}

/// Wrap `v` in nested objects named by the segments of the dotted `path` (`a.b` →
/// `{"a": {"b": v}}`); an empty path returns `v` as it is.
pub fn nest(path: &str, v: Value) -> Value {
    if path.is_empty() {
        return v;
    }
    path.rsplit('.').fold(v, |acc, seg| {
        let mut m = Map::new();
        m.insert(seg.to_owned(), acc);
        Value::Object(m)
    })
}

/// Every key path of `m`, objects included (`a`, `a.b`, `a.b.c`), joined with dots.
pub fn flatten_keys(m: &Map<String, Value>) -> Vec<String> {
    fn walk(prefix: &str, m: &Map<String, Value>, out: &mut Vec<String>) {
        for (k, v) in m {
            let full = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if let Value::Object(sub) = v {
                walk(&full, sub, out);
            }
            out.push(full);
        }
    }
    let mut out = Vec::new();
    walk("", m, &mut out);
    out
}
