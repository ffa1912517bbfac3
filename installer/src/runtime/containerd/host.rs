//! Whether containerd sees this process's file system: only then are its content store and its
//! snapshots' directories read and written here. airadm in a chroot or in a container of its own,
//! talking to the host's containerd over a bind-mounted socket, may find paths of the same names
//! (a container's own `/var/lib/containerd`) that are not containerd's: there blobs go through
//! `Content.Write` and layers through `Diff.Apply`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use containerd_client::services::v1::{PluginsRequest, introspection_client::IntrospectionClient};

use super::{Applier, Containerd};

impl Containerd {
    /// Looks at containerd's side of the socket. If containerd shares this process's root, asks
    /// where its local content store keeps blobs (the `content` plugin exports its `root`), so
    /// that layers are read from there rather than streamed over gRPC. If it does not, or cannot
    /// be told to, nothing of containerd's is touched here: blobs are streamed and layers go to
    /// `Diff.Apply`.
    pub async fn with_local_content(self) -> Self {
        if !self.shares_root().await {
            tracing::info!(
                "containerd does not run under this process's root (airadm in a chroot or a container of its own?): blobs go through Content.Write, layers through containerd's Diff.Apply"
            );
            return Self { content_root: None, applier: Applier::Containerd, ..self };
        }
        let request = PluginsRequest { filters: vec!["type==io.containerd.content.v1,id==content".into()] };
        let root = match IntrospectionClient::new(self.channel.clone()).plugins(self.request(request)).await {
            Ok(response) => response.into_inner().plugins.into_iter().find_map(|p| p.exports.get("root").map(PathBuf::from)),
            Err(_) => None,
        };
        // containerd 2 makes the store's directory with its first blob: containerd's own root
        // (its parent) tells a local store from one in another mount namespace.
        let content_root = root.filter(|r| r.is_dir() || r.parent().is_some_and(Path::is_dir));
        tracing::debug!(content_root = ?content_root, "containerd's local content store");
        Self { content_root, ..self }
    }

    /// Whether containerd's root directory is this process's (`Introspection.Server` of
    /// containerd 1.7 and later names its pid and pid namespace); when containerd does not say,
    /// true, and the paths it hands out are checked as they come (`Target::visible`).
    async fn shares_root(&self) -> bool {
        match IntrospectionClient::new(self.channel.clone()).server(self.request(())).await {
            Ok(server) => {
                let server = server.into_inner();
                let same = same_root(server.pid, server.pidns);
                tracing::debug!(pid = server.pid, pidns = server.pidns, same_root = ?same, "containerd's process");
                // containerd 1.6 does not say: the snapshots' paths, checked one by one, tell.
                same != Some(false)
            }
            Err(status) => {
                tracing::debug!(%status, "Introspection.Server");
                true
            }
        }
    }
}

/// Whether process `pid` of pid namespace `pidns` has this process's root directory: `None` when
/// containerd did not say (1.6 names neither), `Some(false)` when it cannot be told from here
/// (another pid namespace, no `/proc` in a chroot, no permission).
fn same_root(pid: u64, pidns: u64) -> Option<bool> {
    if pid == 0 || pidns == 0 {
        return None;
    }
    let check = || -> Option<bool> {
        if fs::metadata("/proc/self/ns/pid").ok()?.ino() != pidns {
            return Some(false);
        }
        let theirs = fs::metadata(format!("/proc/{pid}/root")).ok()?;
        let mine = fs::metadata("/").ok()?;
        Some(theirs.dev() == mine.dev() && theirs.ino() == mine.ino())
    };
    Some(check().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::{Containerd, same_root};
    use crate::runtime::containerd::Applier;

    /// Debian's containerd 1.6 and containerd 2 (which makes the store's directory only with its
    /// first blob) both run under this root and name a local content store, so layers are read
    /// from it, not streamed, and applied here.
    #[tokio::test]
    async fn the_local_content_store_is_found_before_its_first_blob() {
        let v2 = testkit::reference::toolchain("v1.34.4", &["containerd"]);
        for ctd in [testkit::Containerd::start("registry.k8s.io/pause:3.10"), testkit::Containerd::start_v2(&v2)] {
            let channel = containerd_client::connect(ctd.socket()).await.unwrap();
            let containerd = Containerd::new(channel).with_local_content().await;
            assert_eq!(containerd.content_root, Some(ctd.root().join("io.containerd.content.v1.content")));
            assert_eq!(containerd.applier, Applier::Airadm);
        }
    }

    #[test]
    fn a_root_is_compared_only_within_this_pid_namespace() {
        let ns = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
        let me = u64::from(std::process::id());
        assert_eq!(same_root(me, ns), Some(true));
        assert_eq!(same_root(me, ns + 1), Some(false));
        assert_eq!(same_root(0, 0), None, "containerd 1.6 says neither");
        assert_eq!(same_root(u64::from(u32::MAX), ns), Some(false), "no such process");
    }
}
