//! The `etcd local` and `control-plane` phases: kubeadm's static Pod manifests
//! (kubeadm: cmd/kubeadm/app/phases/etcd/local.go, phases/controlplane/{manifests,volumes}.go,
//! util/staticpod/utils.go), rendered as pure functions of [`InitConfig`] and written through
//! [`Root`] with `--patches` applied.
//!
//! Version differences (v1.31 … v1.37) follow KUBEADM.md §10: `creationTimestamp: null` until
//! v1.33; kube-scheduler `/livez`+`/readyz` from v1.32; named `probe-port` ports from v1.34; etcd
//! 3.6 flags from v1.34 when the etcd image is ≥ 3.6, always from v1.36.

mod controlplane;
mod etcd;
#[cfg(test)]
mod tests;

use bundle::kubeadm::{Arg, EnvVar};
use serde_json::{Map, Value, json};

use super::config::defaults::MANIFESTS_DIR;
use super::files::{PRIVATE, Root};
use super::patches::{self, PatchError, Patches};
use super::{InitConfig, Version};

pub use super::yaml::to_yaml;
pub use controlplane::control_plane_pods;
pub use etcd::{client_url as etcd_client_url, etcd_pod, peer_url as etcd_peer_url};

/// The components `write_manifests` knows, in kubeadm's phase order.
pub const COMPONENTS: [&str; 4] = ["etcd", KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER];
/// `kube-apiserver`.
pub const KUBE_APISERVER: &str = "kube-apiserver";
/// `kube-controller-manager`.
pub const KUBE_CONTROLLER_MANAGER: &str = "kube-controller-manager";
/// `kube-scheduler`.
pub const KUBE_SCHEDULER: &str = "kube-scheduler";
/// The named port the probes use from v1.34 (`kubeadmconstants.ProbePort`).
pub const PROBE_PORT: &str = "probe-port";

/// Writing the manifests failed.
#[derive(Debug, thiserror::Error)]
pub enum StaticPodError {
    /// `which` is not a component.
    #[error("unknown static Pod component `{0}`: use etcd, kube-apiserver, kube-controller-manager, kube-scheduler or all")]
    UnknownComponent(String),
    /// A patch could not be read or applied.
    #[error("failed to patch static Pod manifest file for \"{component}\"")]
    Patch {
        /// The component.
        component: String,
        /// Why.
        #[source]
        source: PatchError,
    },
    /// Reading the patches directory failed.
    #[error("failed to read the patches")]
    Patches(#[source] PatchError),
    /// Creating a directory or writing a manifest failed.
    #[error("failed to write `{path}`")]
    Write {
        /// The node path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Writes the static Pod manifest(s) of `which` (`etcd`, `kube-apiserver`,
/// `kube-controller-manager`, `kube-scheduler` or `all`) under `/etc/kubernetes/manifests`
/// (0700; files 0600, atomically), with the patches of `cfg.patches_dir`. `proxy_env` is the
/// host's environment (only `*_proxy` variables are used). Returns kubeadm's output lines.
/// With external etcd, `etcd` writes nothing (kubeadm logs that at verbosity 1 only).
pub fn write_manifests(
    cfg: &InitConfig,
    root: &Root,
    which: &str,
    external_ca: bool,
    proxy_env: &[(String, String)],
) -> Result<Vec<String>, StaticPodError> {
    let selected: Vec<&str> = match which {
        "all" => COMPONENTS.to_vec(),
        one if COMPONENTS.contains(&one) => vec![one],
        other => return Err(StaticPodError::UnknownComponent(other.to_owned())),
    };
    let mut out = Vec::new();
    let mut patches = PatchState::new(cfg.patches_dir.as_deref());
    if selected.contains(&"etcd")
        && let Some(local) = cfg.local_etcd()
    {
        let data_dir = local.data_dir.as_deref().unwrap_or(super::config::defaults::ETCD_DATA_DIR);
        // etcdutil.CreateDataDirectory: MkdirAll(dataDir, 0700).
        create_dir(root, data_dir)?;
        out.push(format!("[etcd] Creating static Pod manifest for local etcd in \"{MANIFESTS_DIR}\""));
        write_one(cfg, root, "etcd", etcd_pod(cfg), &mut patches, &mut out)?;
    }
    let control_plane: Vec<&str> = selected.iter().copied().filter(|c| *c != "etcd").collect();
    if control_plane.is_empty() {
        return Ok(out);
    }
    if which == "all" {
        out.push(format!("[control-plane] Using manifest folder \"{MANIFESTS_DIR}\""));
    }
    let host_has = |path: &str| root.exists(path);
    for (component, pod) in control_plane_pods(cfg, external_ca, proxy_env, &host_has) {
        if control_plane.contains(&component) {
            out.push(format!("[control-plane] Creating static Pod manifest for \"{component}\""));
            write_one(cfg, root, component, pod, &mut patches, &mut out)?;
        }
    }
    Ok(out)
}

/// The etcd static Pod of a member joining an existing cluster (kubeadm:
/// `CreateStackedEtcdStaticPodManifestFile`'s `prepareAndWriteEtcdStaticPod`): `initial_cluster`
/// is the member list the learner was added with, this member included. Makes the data dir
/// (0700) as `etcdutil.CreateDataDirectory` does. Returns kubeadm's lines.
pub fn write_joining_etcd(cfg: &InitConfig, root: &Root, initial_cluster: &[(String, String)]) -> Result<Vec<String>, StaticPodError> {
    let local = cfg.local_etcd().cloned().unwrap_or_default();
    create_dir(root, local.data_dir.as_deref().unwrap_or(super::config::defaults::ETCD_DATA_DIR))?;
    let mut out = vec!["[etcd] Creating static Pod manifest for \"etcd\"".to_owned()];
    let mut patches = PatchState::new(cfg.patches_dir.as_deref());
    write_one(cfg, root, "etcd", etcd::etcd_pod_joining(cfg, initial_cluster), &mut patches, &mut out)?;
    Ok(out)
}

/// The patches directory, read once on first use (kubeadm caches its patch manager per path).
struct PatchState<'a> {
    dir: Option<&'a str>,
    loaded: Option<Patches>,
}

impl<'a> PatchState<'a> {
    fn new(dir: Option<&'a str>) -> Self {
        Self { dir, loaded: None }
    }

    fn apply(&mut self, component: &str, pod: Value, out: &mut Vec<String>) -> Result<Value, StaticPodError> {
        let Some(dir) = self.dir else { return Ok(pod) };
        if self.loaded.is_none() {
            let read = Patches::read(std::path::Path::new(dir)).map_err(StaticPodError::Patches)?;
            out.extend(read.read_lines());
            self.loaded = Some(read);
        }
        let Some(loaded) = &self.loaded else { return Ok(pod) };
        let (patched, applied) =
            loaded.apply(component, pod).map_err(|source| StaticPodError::Patch { component: component.to_owned(), source })?;
        out.extend(applied.iter().map(|file| patches::applied_line(file.kind, component)));
        Ok(patched)
    }
}

fn write_one(
    cfg: &InitConfig,
    root: &Root,
    component: &str,
    pod: Value,
    patches: &mut PatchState<'_>,
    out: &mut Vec<String>,
) -> Result<(), StaticPodError> {
    let applied_any = patches.dir.is_some();
    let mut pod = patches.apply(component, pod, out)?;
    if applied_any {
        normalize(&mut pod, cfg);
    }
    create_dir(root, MANIFESTS_DIR)?;
    let path = format!("{MANIFESTS_DIR}/{component}.yaml");
    tracing::debug!(path, "writing static Pod manifest");
    root.write(&path, to_yaml(&pod).as_bytes(), PRIVATE).map_err(|source| StaticPodError::Write { path, source })
}

fn create_dir(root: &Root, path: &str) -> Result<(), StaticPodError> {
    tracing::debug!(path, "creating directory");
    root.create_dir(path, 0o700).map_err(|source| StaticPodError::Write { path: path.to_owned(), source })
}

/// What kubeadm's round trip of a patched manifest through `v1.Pod` does that matters here:
/// `null`s vanish, `status: {}` and (until v1.33) `creationTimestamp: null` come back.
fn normalize(pod: &mut Value, cfg: &InitConfig) {
    drop_nulls(pod);
    if let Value::Object(map) = pod {
        map.entry("status").or_insert_with(|| json!({}));
        if let Some(Value::Object(metadata)) = map.get_mut("metadata")
            && !cfg.version.at_least(34)
        {
            metadata.insert("creationTimestamp".into(), Value::Null);
        }
    }
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

// ---- pieces shared by etcd and the control plane (staticpodutil) ----

/// `staticpodutil.ComponentPod`.
fn component_pod(cfg: &InitConfig, container: Value, mut volumes: Vec<Value>, annotations: Option<Value>) -> Value {
    let name = container["name"].clone();
    volumes.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let mut metadata = json!({
        "name": name,
        "namespace": "kube-system",
        "labels": {"component": name, "tier": "control-plane"},
    });
    if let Some(annotations) = annotations {
        metadata["annotations"] = annotations;
    }
    if !cfg.version.at_least(34) {
        // metav1.Time serialised a zero time as null until the omitzero change (k8s #130989, v1.34).
        metadata["creationTimestamp"] = Value::Null;
    }
    let mut spec = json!({
        "containers": [container],
        "priority": 2_000_001_000,
        "priorityClassName": "system-node-critical",
        "hostNetwork": true,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    });
    if !volumes.is_empty() {
        spec["volumes"] = Value::Array(volumes);
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": {}})
}

/// Where a probe looks.
struct ProbeTarget<'a> {
    host: &'a str,
    port: Value,
    scheme: &'a str,
}

/// `createHTTPProbe`; `initialDelaySeconds: 0` is omitted as Go's omitempty does.
fn http_probe(target: &ProbeTarget<'_>, path: &str, initial_delay: u32, failure_threshold: u64, period: u32) -> Value {
    let mut http_get = Map::new();
    if !target.host.is_empty() {
        http_get.insert("host".into(), target.host.into());
    }
    http_get.insert("path".into(), path.into());
    http_get.insert("port".into(), target.port.clone());
    http_get.insert("scheme".into(), target.scheme.into());
    let mut probe = json!({
        "httpGet": http_get,
        "timeoutSeconds": 15,
        "failureThreshold": failure_threshold,
        "periodSeconds": period,
    });
    if initial_delay > 0 {
        probe["initialDelaySeconds"] = initial_delay.into();
    }
    probe
}

fn liveness_probe(target: &ProbeTarget<'_>, path: &str) -> Value {
    http_probe(target, path, 10, 8, 10)
}

fn readiness_probe(target: &ProbeTarget<'_>, path: &str) -> Value {
    http_probe(target, path, 0, 3, 1)
}

/// failureThreshold = ceil(controlPlaneComponentHealthCheck / 10s).
fn startup_probe(cfg: &InitConfig, target: &ProbeTarget<'_>, path: &str) -> Value {
    let failure_threshold = (cfg.control_plane_health_timeout.as_secs_f64() / 10.0).ceil() as u64;
    http_probe(target, path, 10, failure_threshold, 10)
}

/// The probe port: the number until v1.33, `probe-port` (plus a container port) from v1.34.
fn probe_port(cfg: &InitConfig, port: u16) -> Value {
    if cfg.version.at_least(34) { PROBE_PORT.into() } else { port.into() }
}

/// Adds `ports: [{name: probe-port, …}]` from v1.34.
fn add_probe_port(cfg: &InitConfig, container: &mut Value, port: u16) {
    if cfg.version.at_least(34) {
        container["ports"] = json!([{"name": PROBE_PORT, "containerPort": port, "protocol": "TCP"}]);
    }
}

fn host_path_volume(name: &str, path: &str, path_type: &str) -> Value {
    json!({"name": name, "hostPath": {"path": path, "type": path_type}})
}

fn volume_mount(name: &str, path: &str, read_only: bool) -> Value {
    let mut mount = json!({"name": name, "mountPath": path});
    if read_only {
        mount["readOnly"] = true.into();
    }
    mount
}

/// `kubeadmutil.ArgumentsToCommand` behind the binary's name (see
/// [`super::arguments::arguments_to_command`] for the order, which depends on `version`).
fn arguments_to_command(version: &Version, binary: &str, base: &[Arg], overrides: &[Arg]) -> Vec<String> {
    std::iter::once(binary.to_owned()).chain(super::arguments::arguments_to_command(version, base, overrides)).collect()
}

/// `kubeadmapi.SetArgValues(args, name, value, 1)` for our unique defaults: replace or append.
fn set_arg(args: &mut Vec<Arg>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match args.iter_mut().rev().find(|a| a.name == name) {
        Some(arg) => arg.value = value,
        None => args.push(Arg { name: name.to_owned(), value }),
    }
}

fn arg(name: &str, value: impl Into<String>) -> Arg {
    Arg { name: name.to_owned(), value: value.into() }
}

/// `kubeadmapi.GetArgValue(args, name, -1)`: the last occurrence.
fn last_arg<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter().rev().find(|a| a.name == name).map(|a| a.value.as_str())
}

/// `kubeadmutil.MergeKubeadmEnvVars`: later lists win by name; sorted by name.
fn merge_env(lists: &[&[EnvVar]]) -> Vec<Value> {
    let mut merged = std::collections::BTreeMap::new();
    for env in lists.iter().flat_map(|l| l.iter()) {
        merged.insert(env.name.clone(), env);
    }
    merged
        .into_values()
        .map(|env| {
            let mut value = serde_json::to_value(env).unwrap_or(Value::Null);
            // `value` is omitempty in corev1.EnvVar.
            if value.get("value").and_then(Value::as_str) == Some("")
                && let Value::Object(map) = &mut value
            {
                map.remove("value");
            }
            value
        })
        .collect()
}

/// `kubeadmutil.GetProxyEnvVars`: variables whose lower-cased name ends in `_proxy`, non-empty.
fn proxy_env_vars(host_env: &[(String, String)]) -> Vec<EnvVar> {
    host_env
        .iter()
        .filter(|(name, value)| name.to_lowercase().ends_with("_proxy") && !value.is_empty())
        .map(|(name, value)| EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None })
        .collect()
}

/// `filepath.Join(dir, name)` for a clean relative `name` (an empty `dir` yields `name`).
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_owned() } else { format!("{}/{name}", dir.trim_end_matches('/')) }
}

/// `host:port`, IPv6 bracketed (`net.JoinHostPort`).
fn host_port(host: &str, port: u16) -> String {
    super::config::host_port(host, port)
}

/// Sets `env` on a container unless empty (omitempty).
fn set_env(container: &mut Value, env: Vec<Value>) {
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
}
