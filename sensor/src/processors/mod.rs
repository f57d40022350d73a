//! libbeat event processors (`processors:` in `packetbeat.yml`), applied to finished events.
//!
//! Supported: `add_fields`, `drop_fields`, `include_fields`, `drop_event`, `rename`, `add_tags`,
//! `add_host_metadata`, `add_observer_metadata`, and the `if`/`then`/`else` form. Every processor
//! takes an optional `when` condition (see [`conditions`]). Semantics follow libbeat 8.x; the
//! deliberate differences are listed on [`Processors::from_yaml`].
//!
//! ```yaml
//! processors:
//!   - drop_event:
//!       when:
//!         equals:
//!           http.response.status_code: 200
//!   - add_fields:
//!       target: project
//!       fields: {name: myproject, id: "574734885120952459"}
//!   - add_host_metadata: ~
//! ```

pub mod actions;
pub mod conditions;
pub mod config;
pub mod fields;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

use crate::hostinfo::HostInfo;
use actions::{Action, Outcome, PROCESSOR_NAMES};
use conditions::Condition;
use config::{kind, yaml_to_json, Opts};

/// One configured processor: an optional condition and what it does.
#[derive(Clone, Debug)]
struct Step {
    when: Option<Condition>,
    kind: StepKind,
}

#[derive(Clone, Debug)]
enum StepKind {
    Action(Action),
    /// `if: <condition>`, `then: [processors]`, `else: [processors]`.
    IfThenElse {
        cond: Condition,
        then: Processors,
        otherwise: Processors,
    },
}

/// An ordered list of processors; the default (empty) list changes nothing.
#[derive(Clone, Debug, Default)]
pub struct Processors {
    steps: Vec<Step>,
}

impl Processors {
    /// Parse a libbeat `processors:` list (the YAML value of the key, a sequence; `null` is an
    /// empty list). Each item is `- <name>: {options..., when: <condition>}` (the options may be
    /// left empty, as in `- drop_event:`), or `- if: <condition>` with `then:` and optional
    /// `else:` lists. Dotted option keys are expanded (`netinfo.enabled: false`).
    ///
    /// Errors name the processor by index and name, and the option at fault. Options a processor
    /// does not know are errors (libbeat rejects them for most processors too).
    ///
    /// Deliberate differences from libbeat: a condition mapping with two kinds (`equals` and
    /// `contains` side by side) is an error instead of silently using one; `equals` also accepts
    /// floats and compares numbers numerically; `add_fields`/`add_tags` targets with dots create
    /// nested objects (libbeat writes a literal dotted key, which Elasticsearch reads the same);
    /// the metadata processors use the host data gathered at start-up (`cache.ttl` is accepted
    /// but there is no refresh).
    pub fn from_yaml(v: &serde_yaml_ng::Value, host: &Arc<HostInfo>) -> anyhow::Result<Processors> {
        let json = match v {
            serde_yaml_ng::Value::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        yaml_to_json(item).map_err(|e| anyhow!("processors[{i}]: {e}"))
                    })
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => yaml_to_json(other).map_err(|e| anyhow!("processors: {e}"))?,
        };
        Self::from_json(json, host, "processors")
    }

    fn from_json(v: Value, host: &Arc<HostInfo>, path: &str) -> anyhow::Result<Processors> {
        let items = match v {
            Value::Null => return Ok(Processors::default()),
            Value::Array(items) => items,
            // A single processor where a list is expected (`then: {add_tags: ...}`).
            Value::Object(m) if path != "processors" => vec![Value::Object(m)],
            other => bail!(
                "{path} must be a list of processors (`- add_fields: ...`), found {}",
                kind(&other)
            ),
        };
        let mut steps = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            steps.push(parse_step(item, host, &format!("{path}[{i}]"))?);
        }
        Ok(Processors { steps })
    }

    /// Whether there is no processor.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Number of top-level processors.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Apply the processors in order; returns false when the event is dropped (`drop_event`).
    /// A processor that fails leaves the event as libbeat would and the next one runs (libbeat
    /// only logs such errors); `rename` with `fail_on_error` records `error.message`.
    pub fn run(&self, ev: &mut Map<String, Value>) -> bool {
        for step in &self.steps {
            if let Some(c) = &step.when {
                if !c.check(ev) {
                    continue;
                }
            }
            let keep = match &step.kind {
                StepKind::Action(a) => !matches!(a.apply(ev), Ok(Outcome::Drop)),
                StepKind::IfThenElse {
                    cond,
                    then,
                    otherwise,
                } => {
                    if cond.check(ev) {
                        then.run(ev)
                    } else {
                        otherwise.run(ev)
                    }
                }
            };
            if !keep {
                return false;
            }
        }
        true
    }
}

fn parse_step(item: Value, host: &Arc<HostInfo>, path: &str) -> anyhow::Result<Step> {
    let mut m = match item {
        Value::Object(m) => m,
        Value::String(name) => {
            bail!("{path}: `{name}` needs a colon: write `- {name}:` followed by its options")
        }
        other => bail!(
            "{path}: a processor must be a mapping like `- add_fields: {{...}}`, found {}",
            kind(&other)
        ),
    };
    if m.contains_key("if") {
        for k in m.keys() {
            if !["if", "then", "else"].contains(&k.as_str()) {
                bail!("{path} (if): unknown key `{k}` (an `if` processor has if, then and else)");
            }
        }
        let cond = Condition::parse(m.get("if").unwrap_or(&Value::Null), "if")
            .map_err(|e| anyhow!("{path} (if): {e}"))?;
        let then = m
            .remove("then")
            .ok_or_else(|| anyhow!("{path} (if): missing `then` processors"))?;
        let then = Processors::from_json(then, host, &format!("{path}.then"))?;
        let otherwise = match m.remove("else") {
            Some(v) => Processors::from_json(v, host, &format!("{path}.else"))?,
            None => Processors::default(),
        };
        return Ok(Step {
            when: None,
            kind: StepKind::IfThenElse {
                cond,
                then,
                otherwise,
            },
        });
    }
    let mut it = m.into_iter();
    let (name, body) = match (it.next(), it.next()) {
        (Some(first), None) => first,
        (None, _) => bail!("{path}: empty processor; use one of {}", PROCESSOR_NAMES.join(", ")),
        (Some((a, _)), Some((b, _))) => bail!(
            "{path}: each list item must hold exactly one processor, found `{a}` and `{b}` (start each with its own `-`; options go indented under the name)"
        ),
    };
    if !PROCESSOR_NAMES.contains(&name.as_str()) {
        bail!(
            "{path}: unknown processor `{name}` (supported: {}, and if/then/else)",
            PROCESSOR_NAMES.join(", ")
        );
    }
    let err = |e: String| anyhow!("{path} ({name}): {e}");
    let mut allowed: Vec<&str> = Action::allowed_options(&name).to_vec();
    allowed.push("when");
    let mut opts = Opts::new(body, &allowed).map_err(err)?;
    let when = match opts.take("when") {
        None => None,
        Some(c) => Some(Condition::parse(&c, "when").map_err(err)?),
    };
    let action = match Action::build(&name, opts, host) {
        Some(r) => r.map_err(err)?,
        None => bail!("{path}: unknown processor `{name}`"),
    };
    Ok(Step {
        when,
        kind: StepKind::Action(action),
    })
}
