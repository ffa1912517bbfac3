//! The node's container runtime: which CRI socket to use (as kubeadm finds it) and what is
//! behind it.

pub mod containerd;
pub mod cri;
pub mod crio;
pub mod docker;

use std::path::{Path, PathBuf};

/// kubeadm's known CRI endpoints (cmd/kubeadm/app/util/runtime: defaultKnownCRISockets).
pub const KNOWN_SOCKETS: &[&str] = &["/run/containerd/containerd.sock", "/var/run/crio/crio.sock", "/var/run/cri-dockerd.sock"];

/// No usable socket.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DetectError {
    /// Nothing found.
    #[error("no container runtime found: looked for {}; start one, or pass --cri-socket unix:///PATH", KNOWN_SOCKETS.join(", "))]
    None,
    /// Several found.
    #[error("found several container runtimes ({}): choose one with --cri-socket", .0.join(", "))]
    Several(Vec<String>),
    /// A flag value that is not a unix socket URL or path.
    #[error("--cri-socket `{0}` is not unix:///PATH or an absolute path")]
    BadFlag(String),
}

/// `--cri-socket` if given (`unix:///path` or `/path`), else the one known socket present below
/// `root` (`/` on a real node).
pub fn socket_path(flag: Option<&str>, root: &Path) -> Result<PathBuf, DetectError> {
    if let Some(flag) = flag {
        let path = flag.strip_prefix("unix://").unwrap_or(flag);
        return if path.starts_with('/') { Ok(PathBuf::from(path)) } else { Err(DetectError::BadFlag(flag.to_owned())) };
    }
    let found: Vec<&str> = KNOWN_SOCKETS.iter().copied().filter(|s| is_socket(&root.join(s.trim_start_matches('/')))).collect();
    match found[..] {
        [] => Err(DetectError::None),
        [one] => Ok(root.join(one.trim_start_matches('/'))),
        _ => Err(DetectError::Several(found.iter().map(|s| format!("unix://{s}")).collect())),
    }
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt as _;
    fs_err::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(sockets: &[&str]) -> (tempfile::TempDir, Vec<std::os::unix::net::UnixListener>) {
        let root = tempfile::tempdir().unwrap();
        let listeners = sockets
            .iter()
            .map(|s| {
                let path = root.path().join(s.trim_start_matches('/'));
                fs_err::create_dir_all(path.parent().unwrap()).unwrap();
                std::os::unix::net::UnixListener::bind(path).unwrap()
            })
            .collect();
        (root, listeners)
    }

    #[test]
    fn finds_the_one_known_socket() {
        let (root, _l) = root_with(&["/var/run/crio/crio.sock"]);
        assert_eq!(socket_path(None, root.path()).unwrap(), root.path().join("var/run/crio/crio.sock"));
    }

    #[test]
    fn none_lists_what_was_looked_for() {
        let root = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(root.path().join("run/containerd")).unwrap();
        fs_err::write(root.path().join("run/containerd/containerd.sock"), "not a socket").unwrap();
        let err = socket_path(None, root.path()).unwrap_err();
        assert_eq!(err, DetectError::None);
        assert!(err.to_string().contains("/var/run/cri-dockerd.sock") && err.to_string().contains("--cri-socket"));
    }

    #[test]
    fn several_ask_for_the_flag() {
        let (root, _l) = root_with(&["/run/containerd/containerd.sock", "/var/run/cri-dockerd.sock"]);
        let err = socket_path(None, root.path()).unwrap_err().to_string();
        assert!(
            err.contains("unix:///run/containerd/containerd.sock")
                && err.contains("unix:///var/run/cri-dockerd.sock")
                && err.contains("--cri-socket"),
            "{err}"
        );
    }

    #[test]
    fn flag_wins_and_is_checked() {
        assert_eq!(socket_path(Some("unix:///x/c.sock"), Path::new("/")).unwrap(), PathBuf::from("/x/c.sock"));
        assert_eq!(socket_path(Some("/x/c.sock"), Path::new("/")).unwrap(), PathBuf::from("/x/c.sock"));
        assert!(matches!(socket_path(Some("tcp://1.2.3.4:1"), Path::new("/")), Err(DetectError::BadFlag(_))));
    }
}
