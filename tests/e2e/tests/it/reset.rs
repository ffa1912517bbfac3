//! `airadm reset` against real kubeadm: the same node tree (what `airadm init` wrote, a pod's
//! volume mounted under the kubelet's directory, etcd's data) reset by `airadm reset` under
//! `--rootfs` and by real `kubeadm reset` chrooted into a copy leaves the same tree and says the
//! same lines; a second reset and `--dry-run` change nothing.
//! Both run in a network namespace of their own: the cluster named in admin.conf is unreachable,
//! as on a node whose control plane is down.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use testkit::{Containerd, run_ok};

use crate::{World, airadm};

const VERSION: &str = "v1.34.4";

const API_PHASES: &str =
    "wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command";

/// Every path below `root` (directories with a trailing `/`), minus `skip` (top-level names).
fn tree(root: &Path, skip: &[&str]) -> BTreeSet<String> {
    let tops = fs_err::read_dir(root).unwrap().map(|e| e.unwrap().path());
    let kept = tops.filter(|p| !skip.iter().any(|s| p.file_name().is_some_and(|n| n == *s)));
    kept.flat_map(|top| std::iter::once(top.clone()).chain(testkit::walk(&top)))
        .map(|path| {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if path.is_dir() && !path.is_symlink() { format!("{rel}/") } else { rel }
        })
        .collect()
}

/// What a node holds once its kubelet and etcd ran: etcd's data, a pod's mounted volume.
fn as_if_it_ran(root: &Path) {
    fs_err::create_dir_all(root.join("var/lib/etcd/member/snap")).unwrap();
    fs_err::write(root.join("var/lib/etcd/member/snap/db"), b"etcd").unwrap();
    let volume = root.join("var/lib/kubelet/pods/0b4c/volumes/kubernetes.io~projected/kube-api-access");
    fs_err::create_dir_all(&volume).unwrap();
    run_ok(Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(&volume));
    fs_err::write(volume.join("token"), b"secret").unwrap();
}

/// The `[reset]` lines both print about what they delete.
fn deleting_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("[reset] Deleting") || l.starts_with("[reset] Deleted")).collect()
}

fn mounted_below(dir: &Path) -> bool {
    let mounts = fs_err::read_to_string("/proc/self/mounts").unwrap();
    let prefix = format!("{}/", fs_err::canonicalize(dir).unwrap().display());
    mounts.lines().any(|l| l.split(' ').nth(1).is_some_and(|p| p.starts_with(&prefix)))
}

/// The runtime's pod sandboxes (crictl, as a kubeadm user would look).
fn pods(ctd: &Containerd) -> String {
    let crictl = testkit::reference::binary(VERSION, "crictl");
    let endpoint = format!("unix://{}", ctd.socket().display());
    run_ok(Command::new(crictl).args(["--runtime-endpoint", &endpoint, "pods", "-q"])).trim().to_owned()
}

#[test]
fn reset_leaves_what_real_kubeadm_reset_leaves_and_a_second_reset_changes_nothing() {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let ctd = Containerd::start("registry.k8s.io/pause:3.10.1");
    let socket = format!("unix://{}", ctd.socket().display());
    let ours = w.path("rootfs");
    fs_err::create_dir_all(&ours).unwrap();
    let before = tree(&ours, &[]);
    run_ok(
        airadm()
            .args(["init", "--bundle"])
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--rootfs")
            .arg(&ours)
            .args(["--node-name", "cp-0", "--ignore-preflight-errors=all", "--apiserver-advertise-address", "10.20.30.40"])
            .args(["--cri-socket", &socket, &format!("--skip-phases={API_PHASES}")]),
    );
    // Real kubeadm gets a copy of the same tree, chrooted, with /proc for its /proc/mounts.
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let theirs = testkit::reference::kubeadm_root(&kubeadm, "", &[], Some(&ours));
    fs_err::create_dir_all(theirs.path().join("proc")).unwrap();
    run_ok(Command::new("mount").args(["-t", "proc", "proc"]).arg(theirs.path().join("proc")));
    let _unmount = Unmount(theirs.path().join("proc"));
    for root in [ours.as_path(), theirs.path()] {
        as_if_it_ran(root);
    }
    // No pod runs in the test containerd: CRI RunPodSandbox fails on these machines (runc: "can't
    // get final child's PID from pipe"), so reset's removal is seen listing an empty runtime here
    // and removing real pods in the cluster test.
    assert_eq!(pods(&ctd), "");

    // Dry run first: nothing changes.
    let dry = run_ok(airadm().args(["reset", "--dry-run", "--rootfs"]).arg(&ours).args(["--cri-socket", &socket]));
    assert!(
        dry.contains("[dryrun] Would delete contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]"),
        "{dry}"
    );
    assert!(mounted_below(&ours.join("var/lib/kubelet")) && ours.join("etc/kubernetes/admin.conf").exists(), "--dry-run changed the node");

    // airadm reset -f, offline (a network namespace of its own).
    let reset = || {
        run_ok(
            Command::new("/usr/bin/unshare")
                .args(["-n", "--"])
                .arg(airadm_path())
                .args(["reset", "-f", "--rootfs"])
                .arg(&ours)
                .args(["--cri-socket", &socket]),
        )
    };
    let out = reset();
    let kubeadm_out = run_ok(
        Command::new("/usr/bin/unshare")
            .args(["-n", "--", "/usr/sbin/chroot"])
            .arg(theirs.path())
            .args(["/kubeadm", "reset", "-f"])
            .env_clear()
            .env("PATH", "/"),
    );
    assert_eq!(deleting_lines(&out), deleting_lines(&kubeadm_out), "airadm:\n{out}\nkubeadm:\n{kubeadm_out}");
    assert!(out.contains("The reset process does not perform cleanup of CNI plugin configuration"), "{out}");
    let skip = ["kubeadm", "config.yaml", "proc", "tmp"];
    assert_eq!(tree(&ours, &[]), tree(theirs.path(), &skip), "the trees differ after reset");
    assert!(!mounted_below(&ours.join("var/lib/kubelet")), "a volume stayed mounted");
    assert_eq!(pods(&ctd), "");
    // What is left is empty directories init made (kubeadm keeps them too), and the kubelet's
    // systemd drop-in the `binaries` phase installs, which stays as the packages' does.
    let left: Vec<String> = tree(&ours, &[])
        .difference(&before)
        .filter(|p| !p.ends_with('/') && *p != "etc/systemd/system/kubelet.service.d/10-kubeadm.conf")
        .cloned()
        .collect();
    assert_eq!(left, Vec::<String>::new(), "files init wrote are left");
    let images = ctd.ctr_ok(&["-n", "k8s.io", "images", "ls", "-q"]);
    assert!(images.contains(&format!("registry.k8s.io/kube-apiserver:{VERSION}")), "images stay, as with kubeadm: {images}");

    // A second reset: the same lines, nothing changed.
    let tree_after = tree(&ours, &[]);
    let again = reset();
    assert_eq!(tree(&ours, &[]), tree_after);
    assert!(again.contains("[reset] Deleting files: "), "{again}");
}

fn airadm_path() -> std::path::PathBuf {
    testkit::workspace_bin("airadm")
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
