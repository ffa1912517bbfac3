//! kube-proxy's objects, as kubeadm renders them (kubeadm: cmd/kubeadm/app/phases/addons/proxy/
//! proxy.go and manifests.go @abd60651; the configuration's defaults from
//! cmd/kubeadm/app/componentconfigs/kubeproxy.go): ConfigMap and DaemonSet `kube-proxy`, then
//! ServiceAccount `kube-proxy`, ClusterRoleBinding `kubeadm:node-proxier`, Role and RoleBinding
//! `kube-proxy`, in the order kubeadm creates them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::{AddonError, KUBE_SYSTEM};
use crate::kubeadm::InitConfig;
use crate::kubeadm::yaml::to_yaml;

/// `kubeproxyconfig.SchemeGroupVersion`.
const API_VERSION: &str = "kubeproxy.config.k8s.io/v1alpha1";
/// `kubeproxyKubeConfigFileName`: where the DaemonSet mounts `kubeconfig.conf`.
const KUBECONFIG_PATH: &str = "/var/lib/kube-proxy/kubeconfig.conf";
/// `constants.ComponentConfigHashAnnotationKey`.
const HASH_ANNOTATION: &str = "kubeadm.kubernetes.io/component-config.hash";
/// `constants.NodeBootstrapTokenAuthGroup`.
const BOOTSTRAP_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// The objects of the kube-proxy addon, empty when `proxy.disabled` is set.
pub fn kube_proxy_objects(cfg: &InitConfig) -> Result<Vec<Value>, AddonError> {
    kube_proxy_objects_with_env(cfg, &[])
}

/// [`kube_proxy_objects`], with the `*_proxy` variables of `host_env` (the environment airadm
/// runs in) appended to the container's `env`, as kubeadm does with its own environment
/// (`MergeKubeadmEnvVars(GetProxyEnvVars())`).
pub fn kube_proxy_objects_with_env(cfg: &InitConfig, host_env: &[(String, String)]) -> Result<Vec<Value>, AddonError> {
    if proxy_disabled(cfg) {
        return Ok(Vec::new());
    }
    Ok(vec![config_map(cfg)?, daemon_set(cfg, host_env), service_account(), cluster_role_binding(), role(), role_binding()])
}

/// `proxy.disabled` in the ClusterConfiguration.
pub(crate) fn proxy_disabled(cfg: &InitConfig) -> bool {
    cfg.cluster_document.proxy.as_ref().and_then(|p| p.disabled).unwrap_or(false)
}

/// The KubeProxyConfiguration kubeadm stores: the user's document (if any) with kubeadm's
/// defaults filled in where the user left them empty (`kubeProxyConfig.Default`), over the
/// zero-valued fields kubeadm's Go struct marshals ([`crate::kubeadm::skeleton`]).
pub fn kube_proxy_configuration(cfg: &InitConfig) -> Result<Value, AddonError> {
    let mut doc = match &cfg.kube_proxy_configuration {
        Some(Value::Object(user)) => user.clone(),
        Some(_) => return Err(AddonError::ProxyConfiguration { reason: "the document is not a mapping".into() }),
        None => Map::new(),
    };
    doc.insert("apiVersion".into(), API_VERSION.into());
    doc.insert("kind".into(), "KubeProxyConfiguration".into());
    let bind = if cfg.is_ipv6() { "::" } else { "0.0.0.0" };
    set_if_empty(&mut doc, "bindAddress", bind);
    if let Some(pods) = cfg.pod_subnet.as_deref().filter(|p| !p.is_empty()) {
        set_if_empty(&mut doc, "clusterCIDR", pods);
    }
    let connection = doc.entry("clientConnection").or_insert_with(|| json!({}));
    let Value::Object(connection) = connection else {
        return Err(AddonError::ProxyConfiguration { reason: "clientConnection is not a mapping".into() });
    };
    set_if_empty(connection, "kubeconfig", KUBECONFIG_PATH);
    Ok(crate::kubeadm::skeleton::dress(cfg.version.minor, crate::kubeadm::skeleton::Kind::KubeProxyConfiguration, &Value::Object(doc)))
}

fn set_if_empty(map: &mut Map<String, Value>, key: &str, value: &str) {
    let empty = match map.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    if empty {
        map.insert(key.into(), value.into());
    }
}

/// kubeadm's `kubeconfig.conf` for kube-proxy: the ServiceAccount's token and CA, the
/// control-plane endpoint.
fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: {server}
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
}

fn config_map(cfg: &InitConfig) -> Result<Value, AddonError> {
    // Both keys are `|-` blocks in kubeadm's template: no final newline.
    let config = to_yaml(&kube_proxy_configuration(cfg)?);
    let data = json!({
        "kubeconfig.conf": kubeconfig(&cfg.control_plane_url()),
        "config.conf": config.trim_end_matches('\n'),
    });
    let mut map = json!({
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "kube-proxy", "namespace": KUBE_SYSTEM, "labels": {"app": "kube-proxy"}},
        "data": data,
    });
    // kubeadm signs the ConfigMap only when it generated the configuration itself.
    if cfg.kube_proxy_configuration.is_none() {
        map["metadata"]["annotations"] = json!({HASH_ANNOTATION: checksum(&map["data"])});
    }
    Ok(map)
}

/// `componentconfigs.ChecksumForConfigMap`: sha256 over the `data` values in key order.
fn checksum(data: &Value) -> String {
    let mut hash = Sha256::new();
    if let Value::Object(data) = data {
        let mut keys: Vec<&String> = data.keys().collect();
        keys.sort();
        for key in keys {
            hash.update(data[key].as_str().unwrap_or_default().as_bytes());
        }
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

fn daemon_set(cfg: &InitConfig, host_env: &[(String, String)]) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"labels": {"k8s-app": "kube-proxy"}, "name": "kube-proxy", "namespace": KUBE_SYSTEM},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "containers": [container(cfg, host_env)],
                    "hostNetwork": true,
                    "serviceAccountName": "kube-proxy",
                    "volumes": [
                        {"name": "kube-proxy", "configMap": {"name": "kube-proxy"}},
                        {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}},
                        {"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                    ],
                    "tolerations": [{"operator": "Exists"}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                },
            },
        },
    })
}

fn container(cfg: &InitConfig, host_env: &[(String, String)]) -> Value {
    let mut env = vec![json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})];
    env.extend(proxy_env(host_env));
    json!({
        "name": "kube-proxy",
        "image": cfg.images.proxy,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "/usr/local/bin/kube-proxy",
            "--config=/var/lib/kube-proxy/config.conf",
            "--hostname-override=$(NODE_NAME)",
        ],
        "securityContext": {"privileged": true},
        "volumeMounts": [
            {"mountPath": "/var/lib/kube-proxy", "name": "kube-proxy"},
            {"mountPath": "/run/xtables.lock", "name": "xtables-lock", "readOnly": false},
            {"mountPath": "/lib/modules", "name": "lib-modules", "readOnly": true},
        ],
        "env": env,
    })
}

/// `GetProxyEnvVars` (non-empty variables whose lower-cased name ends in `_proxy`) through
/// `MergeKubeadmEnvVars` (the last of a name wins; sorted by name).
fn proxy_env(host_env: &[(String, String)]) -> Vec<Value> {
    let merged: BTreeMap<&str, &str> = host_env
        .iter()
        .filter(|(name, value)| name.to_lowercase().ends_with("_proxy") && !value.is_empty())
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    merged.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect()
}

fn service_account() -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kube-proxy", "namespace": KUBE_SYSTEM}})
}

fn cluster_role_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "kubeadm:node-proxier"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"},
        "subjects": [{"kind": "ServiceAccount", "name": "kube-proxy", "namespace": KUBE_SYSTEM}],
    })
}

fn role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "kube-proxy", "namespace": KUBE_SYSTEM},
        "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"]}],
    })
}

fn role_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "kube-proxy", "namespace": KUBE_SYSTEM},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kube-proxy"},
        "subjects": [{"kind": "Group", "name": BOOTSTRAP_TOKEN_GROUP}],
    })
}
