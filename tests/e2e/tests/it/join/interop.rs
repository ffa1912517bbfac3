//! The other way round: `airadm join` joins a cluster real `kubeadm init` made (its certificates,
//! kubeconfigs and static Pods, its `upload-config` and `bootstrap-token` phases), on the real
//! control plane and kubelet of the reference toolchain.

use std::path::Path;
use std::process::Command;

use testkit::controlplane::{ControlPlane, NetNs};
use testkit::{reference, run_ok};

use super::{ADDRESS, HostTraces, KUBELET_HOST, TOKEN, VERSION, WORKER_DONE, init_config, join_config, kubelet_harness, tail};
use crate::World;

#[test]
fn airadm_joins_a_worker_to_a_cluster_real_kubeadm_made() {
    let _one_kubelet_host = KUBELET_HOST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bin = reference::toolchain(
        VERSION,
        &["kubeadm", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet"],
    );
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    // kubeadm's own control plane: its host-local phases chrooted into the tree, its API phases
    // against the control plane started from its static Pods.
    let theirs = w.path("kubeadm-cp");
    fs_err::create_dir_all(&theirs).unwrap();
    fs_err::write(theirs.join("kubeadm.yaml"), init_config()).unwrap();
    let kubeadm = |args: &[&str]| {
        let mut cmd = Command::new(bin.join("kubeadm"));
        cmd.args(args).args(["--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs);
        cmd
    };
    run_ok(kubeadm(&[
        "init",
        "--skip-phases=preflight,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
    ]));
    let ns = NetNs::new(ADDRESS);
    let cp = ControlPlane::start(&ns, &theirs, &bin);
    for phase in [&["upload-config", "all"][..], &["bootstrap-token"]] {
        let mut cmd = ns.command(bin.join("kubeadm"));
        cmd.args(["init", "phase"]).args(phase).args(["--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "kubeadm init phase {phase:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), cp.logs());
    }
    let hash = installer::kubeadm::api::ca_cert_hash(&fs_err::read(theirs.join("etc/kubernetes/pki/ca.crt")).unwrap()).unwrap();
    let ctd = testkit::Containerd::start("registry.k8s.io/pause:3.10.1");
    let _traces = HostTraces::new();
    let worker = w.path("worker");
    fs_err::create_dir_all(&worker).unwrap();
    let file = w.path("join.yaml");
    fs_err::write(&file, join_config(TOKEN, &hash, &ctd.socket())).unwrap();
    let harness = kubelet_harness(&ns, &worker, bin.join("kubelet"));
    let mut join = ns.command(crate::testkit_bin("airadm"));
    join.args(["join", "--skip-phases=import,binaries", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public);
    join.arg("--rootfs").arg(&worker).arg("--config").arg(&file);
    let out = join.output().unwrap();
    // The kubelet, now bootstrapped, registers its Node with the cluster kubeadm made.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let registered = loop {
        let get = cp.kubectl(&ns, &bin).args(["get", "node", "worker-1", "-o", "jsonpath={.metadata.name}"]).output().unwrap();
        if get.status.success() || std::time::Instant::now() > deadline || !out.status.success() {
            break String::from_utf8_lossy(&get.stdout).into_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    if let Some(mut child) = harness.join().unwrap() {
        child.kill().ok();
        child.wait().ok();
    }
    let kubelet_log = fs_err::read_to_string(worker.with_extension("kubelet.log")).unwrap_or_default();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nkubelet:\n{}\n{}", tail(&kubelet_log), cp.logs());
    assert!(out.status.success() && stdout.contains(WORKER_DONE), "airadm join of kubeadm's cluster\n{context}");
    assert_eq!(read(&worker, "etc/kubernetes/pki/ca.crt"), read(&theirs, "etc/kubernetes/pki/ca.crt"));
    let conf = String::from_utf8(read(&worker, "etc/kubernetes/kubelet.conf")).unwrap();
    assert!(conf.contains(&format!("server: https://{ADDRESS}:6443")), "{conf}");
    assert_eq!(registered, "worker-1", "no Node worker-1\n{context}");
}

fn read(root: &Path, file: &str) -> Vec<u8> {
    fs_err::read(root.join(file)).unwrap()
}
