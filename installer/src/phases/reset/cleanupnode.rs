//! `cleanup-node` phase of reset (kubeadm: cmd/phases/reset/cleanupnode.go): stop the kubelet,
//! unmount what is mounted under its directory, remove every pod sandbox over CRI, empty
//! kubeadm's directories and delete its kubeconfig files.

use std::path::Path;

use super::ResetData;
use super::data::warn;
use crate::kubeadm::reset::{self, KUBECONFIG_FILES, KUBELET_DIR, go_list};
use crate::kubeadm::{files::Root, initsystem};
use crate::workflow::Phase;
use crate::{cni, runtime};

/// kubeadm's `RemoveContainerRetry`.
const REMOVE_RETRIES: usize = 5;

pub(super) fn phase() -> Phase<ResetData> {
    Phase::new("cleanup-node", "Run cleanup node.")
        .aliases(&["cleanupnode"])
        .inherit(&["cert-dir", "cri-socket", "cleanup-tmp-dir", "dry-run"])
        .run(|data: &mut ResetData| Box::pin(run(data)))
}

async fn run(data: &mut ResetData) -> anyhow::Result<()> {
    let dry = data.cfg.dry_run;
    let certs_dir = data.cfg.certificates_dir.clone();
    if dry {
        data.say(vec!["[dryrun] Would stop the kubelet service".into()])?;
    } else {
        let (said, warnings) = initsystem::stop_kubelet_for_reset(&data.node);
        data.say(said)?;
        for line in warnings {
            warn(&line)?;
        }
    }
    let kubelet_dir_exists = data.node.exists(KUBELET_DIR);
    if dry {
        data.say(vec![format!("[dryrun] Would unmount mounted directories in {KUBELET_DIR:?}")])?;
    } else if kubelet_dir_exists {
        data.say(vec![format!("[reset] Unmounting mounted directories in {KUBELET_DIR:?}")])?;
        unmount_below(&data.node, data.cfg.unmount_flags)?;
    } else {
        warn(&format!("[reset] Skipping unmount of directories in {KUBELET_DIR:?}: it does not exist"))?;
    }
    if dry {
        data.say(vec!["[dryrun] Would remove Kubernetes-managed containers".into()])?;
    } else if let Err(e) = remove_pods(data).await {
        warn(&format!("[reset] Failed to remove containers: {e:#}"))?;
    }
    if certs_dir != crate::kubeadm::config::defaults::CERTIFICATES_DIR {
        warn(&format!("[reset] WARNING: Cleaning a non-default certificates directory: {certs_dir:?}"))?;
    }
    let dirs = reset::dirs_to_clean(&certs_dir, kubelet_dir_exists || dry, data.cfg.cleanup_tmp_dir);
    if dry {
        data.say(vec![format!("[dryrun] Would delete contents of directories: {}", go_list(&dirs))])?;
        return data.say(vec![format!("[dryrun] Would delete files: {}", go_list(KUBECONFIG_FILES))]);
    }
    data.say(vec![format!("[reset] Deleting contents of directories: {}", go_list(&dirs))])?;
    for dir in &dirs {
        if let Err(e) = data.node.clean_dir(dir) {
            warn(&format!("[reset] Failed to delete contents of {dir:?} directory: {e}"))?;
        }
    }
    data.say(vec![format!("[reset] Deleting files: {}", go_list(KUBECONFIG_FILES))])?;
    for file in KUBECONFIG_FILES {
        if let Err(e) = data.node.remove(file) {
            warn(&format!("[reset] Failed to remove file: {file:?} [{e}]"))?;
        }
    }
    remove_default_network(data)
}

/// airadm's own default pod network (the `cni` phase of init and join), which kubeadm's reset
/// would leave as any network's: once the pods are gone, its conflist, host-local's leases and,
/// on this machine (not under `--rootfs`), the bridge. Another network's files are left alone.
fn remove_default_network(data: &ResetData) -> anyhow::Result<()> {
    if !data.node.exists(cni::CONFLIST) {
        return Ok(());
    }
    let leases = format!("/var/lib/cni/networks/{}", cni::NETWORK);
    data.say(vec![format!(
        "[reset] Deleting airadm's default pod network: {}, {leases:?} and the bridge {}",
        go_list(&[cni::CONFLIST]),
        cni::BRIDGE
    )])?;
    if let Err(e) = data.node.remove(cni::CONFLIST) {
        warn(&format!("[reset] Failed to remove file: {:?} [{e}]", cni::CONFLIST))?;
    }
    if let Err(e) = data.node.clean_dir(&leases).and_then(|_| data.node.remove_empty_dir(&leases)) {
        warn(&format!("[reset] Failed to delete {leases:?}: {e}"))?;
    }
    if data.node.dir() == Path::new("/") {
        let shown = std::process::Command::new("ip").args(["link", "show", cni::BRIDGE]).output();
        if shown.is_ok_and(|o| o.status.success()) {
            let deleted = std::process::Command::new("ip").args(["link", "delete", cni::BRIDGE]).output();
            match deleted {
                Ok(out) if out.status.success() => {}
                Ok(out) => {
                    warn(&format!("[reset] Failed to delete the bridge {}: {}", cni::BRIDGE, String::from_utf8_lossy(&out.stderr).trim()))?
                }
                Err(e) => warn(&format!("[reset] Failed to delete the bridge {}: `ip`: {e}", cni::BRIDGE))?,
            }
        }
    }
    Ok(())
}

/// kubeadm's `unmountKubeletDirectory`: every mount strictly below the kubelet's directory (its
/// real path on this machine), deepest first; an unmount that fails stops the reset before
/// anything is deleted.
fn unmount_below(node: &Root, flags: u32) -> anyhow::Result<()> {
    let dir = std::fs::canonicalize(node.path(KUBELET_DIR)?)?;
    let mounts = fs_err::read_to_string("/proc/self/mounts")?;
    let mut failed = Vec::new();
    for point in reset::mounts_below(&mounts, &dir.to_string_lossy()) {
        let flags = rustix::mount::UnmountFlags::from_bits_retain(flags);
        if let Err(e) = rustix::mount::unmount(Path::new(&point), flags) {
            failed.push(format!("failed to unmount {point:?}: {e}"));
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "encountered the following errors while unmounting directories in {:?}: [{}]",
        format!("{}/", dir.display()),
        failed.join(", ")
    );
    Ok(())
}

/// kubeadm's `removeContainers`: every pod sandbox stopped and removed (with its containers),
/// each tried up to five times.
async fn remove_pods(data: &ResetData) -> anyhow::Result<()> {
    // Given (or init's): a path on this machine, as init used it. Else kubeadm's detection, in the node.
    let (socket, path) = match &data.cfg.cri_socket {
        Some(socket) => (socket.clone(), runtime::socket_path(Some(socket), Path::new("/"))?),
        None => match runtime::socket_path(None, data.node.dir()) {
            Ok(path) => (format!("unix://{}", path.display()), path),
            Err(runtime::DetectError::None) => {
                let socket = crate::kubeadm::config::defaults::CRI_SOCKET;
                (socket.to_owned(), data.node.path(socket.trim_start_matches("unix://"))?)
            }
            Err(e) => return Err(e.into()),
        },
    };
    let channel = containerd_client::connect(&path)
        .await
        .map_err(|e| anyhow::anyhow!("could not connect to the container runtime at {socket}: {e}"))?;
    let mut cri = runtime::cri::Cri::new(channel);
    let mut errors = Vec::new();
    for id in cri.pod_sandboxes().await? {
        let mut last = None;
        for _ in 0..REMOVE_RETRIES {
            match cri.remove_pod_sandbox(&id).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(e) => last = Some(format!("failed to remove pod {id}: {e}")),
            }
        }
        errors.extend(last);
    }
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("; "));
    Ok(())
}
