//! What `init` learns from the node itself: its hostname, the default route's address, the CRI
//! socket (kubeadm's dynamic defaults), and the proxy environment the static Pods inherit.

use std::path::Path;

use crate::kubeadm::config::HostFacts;
use crate::kubeadm::files::Root;
use crate::runtime;

/// The host's proxy variables (`*_proxy`), which kubeadm passes to the control-plane pods.
pub(crate) fn proxy_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars().filter(|(k, v)| k.to_lowercase().ends_with("_proxy") && !v.is_empty()).collect();
    vars.sort();
    vars
}

/// What the node says: hostname, the default route's address, the CRI socket (detected unless
/// `cri_socket_given` by a flag or the config file).
pub(crate) fn host_facts(cri_socket_given: bool, root: &Root) -> anyhow::Result<HostFacts> {
    let hostname = fs_err::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_lowercase();
    // The source address the kernel picks for a default-route destination: nothing is sent.
    let default_address = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("203.0.113.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified());
    let cri_socket = detect_cri_socket(cri_socket_given, root)?;
    Ok(HostFacts { hostname, default_address, cri_socket })
}

/// kubeadm's `DetectCRISocket` (util/runtime), only when neither `--cri-socket` nor the config
/// names one: the one known socket present; none is kubeadm's default socket; several is an error.
fn detect_cri_socket(given: bool, root: &Root) -> anyhow::Result<Option<String>> {
    if given {
        return Ok(None);
    }
    match runtime::socket_path(None, root.dir()) {
        Ok(path) => {
            let inside = path.strip_prefix(root.dir()).map(|p| Path::new("/").join(p)).unwrap_or(path);
            Ok(Some(format!("unix://{}", inside.display())))
        }
        Err(runtime::DetectError::None) => Ok(None),
        Err(runtime::DetectError::Several(found)) => anyhow::bail!(
            "found multiple CRI endpoints on the host ({}): choose one with --cri-socket or nodeRegistration.criSocket in the --config file",
            found.join(", ")
        ),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_cri_sockets_are_an_error_unless_one_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        assert_eq!(detect_cri_socket(false, &root).unwrap(), None, "none found: kubeadm's default");
        fs_err::create_dir_all(dir.path().join("run/containerd")).unwrap();
        let _containerd = std::os::unix::net::UnixListener::bind(dir.path().join("run/containerd/containerd.sock")).unwrap();
        assert_eq!(detect_cri_socket(false, &root).unwrap().as_deref(), Some("unix:///run/containerd/containerd.sock"));
        fs_err::create_dir_all(dir.path().join("var/run/crio")).unwrap();
        let _crio = std::os::unix::net::UnixListener::bind(dir.path().join("var/run/crio/crio.sock")).unwrap();
        let err = detect_cri_socket(false, &root).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "found multiple CRI endpoints on the host (unix:///run/containerd/containerd.sock, unix:///var/run/crio/crio.sock)"
            ),
            "{err}"
        );
        assert_eq!(detect_cri_socket(true, &root).unwrap(), None, "a chosen socket is not detected");
    }
}
