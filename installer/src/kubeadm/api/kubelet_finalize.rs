//! `kubelet-finalize enable-client-cert-rotation` (kubeadm:
//! cmd/kubeadm/app/cmd/phases/init/kubeletfinalize.go): once the kubelet's client certificate
//! rotates (`kubelet-client-current.pem` exists), kubelet.conf's user points at that file instead
//! of embedding a certificate and key.

use serde_json::Value;

use super::ApiError;
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::files::{PRIVATE, Root};
use crate::kubeadm::yaml::to_yaml;

/// `KubeletKubeConfigFileName` under `KubernetesDir`.
pub const KUBELET_CONF: &str = "/etc/kubernetes/kubelet.conf";
/// The kubelet's default `--cert-dir`.
pub const KUBELET_PKI_DIR: &str = "/var/lib/kubelet/pki";

/// `kubelet-client-current.pem` in the kubelet's `--cert-dir` (the last `cert-dir` of
/// `nodeRegistration.kubeletExtraArgs`, else /var/lib/kubelet/pki).
pub fn kubelet_client_current(cfg: &InitConfig) -> String {
    let dir = cfg.kubelet_extra_args.iter().rev().find(|a| a.name == "cert-dir").map_or(KUBELET_PKI_DIR, |a| a.value.as_str());
    format!("{}/kubelet-client-current.pem", dir.trim_end_matches('/'))
}

/// kubelet.conf with the current context's user reading `pem` for both certificate and key
/// (the `*-data` fields dropped), written as `clientcmd.WriteToFile` writes it.
pub fn rotatable_kubeconfig(kubeconfig: &str, pem: &str) -> Result<String, ApiError> {
    let invalid = |reason: String| ApiError::Invalid { path: KUBELET_CONF.into(), reason };
    let mut config: Value = serde_saphyr::from_str(kubeconfig).map_err(|e| invalid(e.to_string()))?;
    let current = config["current-context"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("it does not have current context set".into()))?;
    let find = |list: &Value, name: &str| list.as_array().and_then(|items| items.iter().position(|i| i["name"] == name));
    let context = find(&config["contexts"], current)
        .ok_or_else(|| invalid(format!("{current:?} set as current-context, but not found in context list")))?;
    let user_name = config["contexts"][context]["context"]["user"].as_str().unwrap_or_default().to_owned();
    let user =
        find(&config["users"], &user_name).ok_or_else(|| invalid(format!("it does not contain authentication for user {user_name:?}")))?;
    let Some(info) = config["users"][user]["user"].as_object_mut() else {
        return Err(invalid(format!("user {user_name:?} has no credentials")));
    };
    info.remove("client-certificate-data");
    info.remove("client-key-data");
    info.insert("client-certificate".into(), pem.into());
    info.insert("client-key".into(), pem.into());
    Ok(to_yaml(&config))
}

/// The phase: nothing when the kubelet has not rotated yet. The caller restarts the kubelet
/// afterwards (kubeadm's `TryRestartKubelet`, [`crate::kubeadm::kubelet::restart`]).
pub fn enable_client_cert_rotation(cfg: &InitConfig, root: &Root) -> Result<Vec<String>, ApiError> {
    let pem = kubelet_client_current(cfg);
    if !root.exists(&pem) {
        tracing::debug!(%pem, "kubelet client certificate rotation is disabled: no such file");
        return Ok(vec![]);
    }
    let io = |source| ApiError::Io { path: KUBELET_CONF.into(), source };
    let current = root.read(KUBELET_CONF).map_err(io)?.ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
    let text = String::from_utf8(current).map_err(|_| ApiError::Invalid { path: KUBELET_CONF.into(), reason: "not UTF-8".into() })?;
    root.write(KUBELET_CONF, rotatable_kubeconfig(&text, &pem)?.as_bytes(), PRIVATE).map_err(io)?;
    Ok(vec![format!("[kubelet-finalize] Updating {KUBELET_CONF:?} to point to a rotatable kubelet client certificate and key")])
}
