//! The local etcd member's static Pod (kubeadm: cmd/kubeadm/app/phases/etcd/local.go
//! `GetEtcdPodSpec`/`getEtcdCommand`, util/staticpod/utils.go `GetEtcdProbeEndpoint`).

use bundle::kubeadm::{Arg, LocalEtcd};
use serde_json::{Value, json};

use super::{
    ProbeTarget, add_probe_port, arg, arguments_to_command, component_pod, host_path_volume, host_port, join, last_arg, liveness_probe,
    merge_env, probe_port, readiness_probe, set_arg, set_env, startup_probe, volume_mount,
};
use crate::kubeadm::InitConfig;
use crate::kubeadm::config::defaults::ETCD_DATA_DIR;

const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;
const METRICS_PORT: u16 = 2381;

/// The `etcd` static Pod of a new single-member cluster (`kubeadm init`). With external etcd
/// in `cfg` it renders a default local member (the phase skips it instead).
pub fn etcd_pod(cfg: &InitConfig) -> Value {
    etcd_pod_joining(cfg, &[])
}

/// The `etcd` static Pod of a member joining `initial_cluster` (name, peer URL; empty for a
/// new cluster).
pub(super) fn etcd_pod_joining(cfg: &InitConfig, initial_cluster: &[(String, String)]) -> Value {
    let default_local = LocalEtcd::default();
    let local = cfg.local_etcd().unwrap_or(&default_local);
    let extra_args = local.extra_args.as_deref().unwrap_or_default();
    let data_dir = local.data_dir.as_deref().unwrap_or(ETCD_DATA_DIR);
    let certs_dir = format!("{}/etcd", cfg.cert_dir);
    let (host, port, scheme) = probe_endpoint(cfg, extra_args);
    let target = ProbeTarget { host: &host, port: probe_port(cfg, port), scheme };
    let mut container = json!({
        "name": "etcd",
        "command": etcd_command(cfg, extra_args, initial_cluster),
        "image": cfg.images.etcd,
        "imagePullPolicy": "IfNotPresent",
        // Not sorted: data first, certificates second, as local.go lists them.
        "volumeMounts": [volume_mount("etcd-data", data_dir, false), volume_mount("etcd-certs", &certs_dir, false)],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}},
        "livenessProbe": liveness_probe(&target, "/livez"),
        "readinessProbe": readiness_probe(&target, "/readyz"),
        "startupProbe": startup_probe(cfg, &target, "/readyz"),
    });
    add_probe_port(cfg, &mut container, port);
    set_env(&mut container, merge_env(&[local.extra_envs.as_deref().unwrap_or_default()]));
    let volumes =
        vec![host_path_volume("etcd-data", data_dir, "DirectoryOrCreate"), host_path_volume("etcd-certs", &certs_dir, "DirectoryOrCreate")];
    let annotations = json!({"kubeadm.kubernetes.io/etcd.advertise-client-urls": client_url(cfg)});
    component_pod(cfg, container, volumes, Some(annotations))
}

/// `getEtcdCommand`; `initial_cluster` (name, peer URL) is empty for `init`, the full member
/// list (this member included) for a joining member.
pub(crate) fn etcd_command(cfg: &InitConfig, extra_args: &[Arg], initial_cluster: &[(String, String)]) -> Vec<String> {
    let localhost = if cfg.is_ipv6() { "::1" } else { "127.0.0.1" };
    let data_dir = cfg.local_etcd().and_then(|l| l.data_dir.as_deref()).unwrap_or(ETCD_DATA_DIR);
    let certs = |name: &str| join(&cfg.cert_dir, name);
    let (corrupt_check, watch_progress) = if uses_etcd36_flags(cfg) {
        (arg("feature-gates", "InitialCorruptCheck=true"), arg("watch-progress-notify-interval", "5s"))
    } else {
        (arg("experimental-initial-corrupt-check", "true"), arg("experimental-watch-progress-notify-interval", "5s"))
    };
    let mut args = vec![
        arg("name", cfg.node_name.clone()),
        corrupt_check,
        arg("listen-client-urls", format!("https://{},{}", host_port(localhost, CLIENT_PORT), client_url(cfg))),
        arg("advertise-client-urls", client_url(cfg)),
        arg("listen-peer-urls", peer_url(cfg)),
        arg("initial-advertise-peer-urls", peer_url(cfg)),
        arg("data-dir", data_dir),
        arg("cert-file", certs("etcd/server.crt")),
        arg("key-file", certs("etcd/server.key")),
        arg("trusted-ca-file", certs("etcd/ca.crt")),
        arg("client-cert-auth", "true"),
        arg("peer-cert-file", certs("etcd/peer.crt")),
        arg("peer-key-file", certs("etcd/peer.key")),
        arg("peer-trusted-ca-file", certs("etcd/ca.crt")),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", "10000"),
        arg("listen-metrics-urls", format!("http://{}", host_port(localhost, METRICS_PORT))),
        watch_progress,
    ];
    if initial_cluster.is_empty() {
        set_arg(&mut args, "initial-cluster", format!("{}={}", cfg.node_name, peer_url(cfg)));
    } else {
        let members: Vec<String> = initial_cluster.iter().map(|(name, url)| format!("{name}={url}")).collect();
        set_arg(&mut args, "initial-cluster", members.join(","));
        set_arg(&mut args, "initial-cluster-state", "existing");
    }
    arguments_to_command(&cfg.version, "etcd", &args, extra_args)
}

/// v1.34–v1.35 (k8s #132838): the etcd 3.6 flags when the etcd image is ≥ 3.6.0, else the
/// `experimental-` ones; v1.36+ (#135701): always the 3.6 flags; before v1.34: never.
pub(crate) fn uses_etcd36_flags(cfg: &InitConfig) -> bool {
    if cfg.version.at_least(36) {
        return true;
    }
    if !cfg.version.at_least(34) {
        return false;
    }
    match etcd_image_version(&cfg.images.etcd) {
        Some((major, minor)) => (major, minor) >= (3, 6),
        // No readable tag (digest only): v1.34+ ships etcd 3.6.
        None => true,
    }
}

/// `(3, 6)` from `registry.k8s.io/etcd:3.6.5-0` (a `@sha256:…` suffix allowed).
fn etcd_image_version(image: &str) -> Option<(u32, u32)> {
    let name = image.split('@').next()?;
    let (repository, tag) = name.rsplit_once(':')?;
    if tag.contains('/') || repository.is_empty() {
        return None;
    }
    let mut parts = tag.trim_start_matches('v').split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// `etcdutil.GetClientURL`: `https://<advertise>:2379`.
pub fn client_url(cfg: &InitConfig) -> String {
    format!("https://{}", host_port(&cfg.advertise_address.to_string(), CLIENT_PORT))
}

/// `etcdutil.GetPeerURL`: `https://<advertise>:2380`.
pub fn peer_url(cfg: &InitConfig) -> String {
    format!("https://{}", host_port(&cfg.advertise_address.to_string(), PEER_PORT))
}

/// `GetEtcdProbeEndpoint`: localhost:2381 over HTTP, or the first `listen-metrics-urls` URL.
fn probe_endpoint(cfg: &InitConfig, extra_args: &[Arg]) -> (String, u16, &'static str) {
    let localhost = if cfg.is_ipv6() { "::1" } else { "127.0.0.1" };
    let default = (localhost.to_owned(), METRICS_PORT, "HTTP");
    let Some(urls) = last_arg(extra_args, "listen-metrics-urls") else { return default };
    let first = urls.split(',').next().unwrap_or_default();
    let Some((scheme, rest)) = first.split_once("://") else { return default };
    let scheme = if scheme == "https" { "HTTPS" } else { "HTTP" };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = crate::kubeadm::config::split_host_port(authority);
    let host = if host.is_empty() { localhost } else { host };
    (host.to_owned(), port.filter(|p| *p > 0).unwrap_or(METRICS_PORT), scheme)
}
