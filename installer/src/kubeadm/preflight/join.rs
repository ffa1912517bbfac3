//! kubeadm's join checks (`preflight/checks.go` `JoinNodeChecks`): the kubelet's kubeconfigs
//! and, for a worker, the CA file must not be there yet; then the common checks, with the IP
//! family of the API server endpoint.

use super::{Finding, Probe, Severity, common_checks, file_name};
use crate::kubeadm::config::{Discovery, JoinConfig, Version};

/// Runs kubeadm's join checks against `probe`; `version` is the bundle's.
pub fn join_checks(cfg: &JoinConfig, version: &Version, probe: &dyn Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    if !probe.is_root() {
        out.push(Finding { name: "IsPrivilegedUser".into(), severity: Severity::Error, message: "user is not running as root".into() });
    }
    let mut files = vec!["/etc/kubernetes/kubelet.conf".to_owned(), "/etc/kubernetes/bootstrap-kubelet.conf".to_owned()];
    if cfg.control_plane.is_none() {
        files.push(cfg.ca_cert_path.clone());
    }
    for path in files {
        if probe.exists(&path) {
            out.push(Finding {
                name: format!("FileAvailable-{}", file_name(&path)),
                severity: Severity::Error,
                message: format!("{path} already exists"),
            });
        }
    }
    let families = match &cfg.discovery {
        Discovery::Token { endpoint, .. } => {
            let host = crate::kubeadm::config::split_host_port(endpoint).0.trim_start_matches('[').trim_end_matches(']');
            match host.parse::<std::net::IpAddr>() {
                Ok(ip) => (ip.is_ipv4(), ip.is_ipv6()),
                Err(_) => (false, false),
            }
        }
        Discovery::File { .. } => (false, false),
    };
    out.extend(common_checks(version, families, probe));
    out
}

/// kubeadm's `SharedCertificateExists`, for a control plane joining without `--certificate-key`:
/// the cluster CA, the service-account key pair, the front-proxy CA and (with a local etcd)
/// etcd's CA must already be in `certificatesDir`, copied there by hand. Returns the first
/// missing file.
pub fn shared_certificates_exist(cfg: &crate::kubeadm::InitConfig, exists: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let mut files = vec!["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key"];
    if cfg.local_etcd().is_some() {
        files.extend(["etcd/ca.crt", "etcd/ca.key"]);
    }
    match files.into_iter().map(|f| cfg.cert_path(f)).find(|path| !exists(path)) {
        None => Ok(()),
        Some(path) => {
            Err(format!("{path} doesn't exist: copy the shared certificates from the first control plane, or join with --certificate-key"))
        }
    }
}
