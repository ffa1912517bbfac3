//! A second control plane: `airadm join --control-plane --certificate-key` against the real
//! control plane `airadm init` made, on two nodes (network namespaces on one veth link). The
//! joining node's etcd member is added as a learner, its static Pods are played by the test as
//! a kubelet would run them, the learner is promoted, the real kubelet bootstraps against the
//! node's own API server, and the control-plane check passes. Then `airadm reset` on it removes
//! its member and leaves a healthy one-member etcd; and real `kubeadm join` of the same node, with
//! the same arguments, writes the same files and says the same.
//!
//! The first node runs no kubelet here (the real-cluster test has them), so the test publishes
//! its etcd Pod as that kubelet would mirror it: kubeadm finds the etcd members through those
//! Pods' `advertise-client-urls` annotation.

use std::path::Path;
use std::process::Command;

use testkit::controlplane::{ControlPlane, NetNs};
use testkit::{reference, run_ok};

use super::{HostTraces, KUBELET_HOST, TOKEN, VERSION, kubelet_harness, tail};
use crate::World;

const FIRST: &str = "10.77.1.20";
const SECOND: &str = "10.77.1.21";
/// `airadm certs certificate-key` once, fixed so the config can carry it.
const KEY: &str = "6d1a82e2c0d9b1f8d8e5b2a4c5e7f60112233445566778899aabbccddeeff001";
const CP_DONE: &str = "This node has joined the cluster and a new control plane instance was created:";

fn init_config() -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: {TOKEN}
certificateKey: {KEY}
localAPIEndpoint:
  advertiseAddress: {FIRST}
nodeRegistration:
  name: cp-0
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {VERSION}
clusterName: cp-join-test
controlPlaneEndpoint: {FIRST}:6443
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
"
    )
}

/// The join flags both `airadm join` and `kubeadm join` get.
fn join_args(hash: &str, socket: &Path) -> Vec<String> {
    [
        &format!("{FIRST}:6443"),
        "--token",
        TOKEN,
        "--discovery-token-ca-cert-hash",
        hash,
        "--control-plane",
        "--certificate-key",
        KEY,
        "--apiserver-advertise-address",
        SECOND,
        "--node-name",
        "cp-1",
        "--ignore-preflight-errors=all",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("--cri-socket=unix://{}", socket.display())])
    .collect()
}

/// The first node's etcd Pod as its kubelet would mirror it (pending: it selects no node).
fn publish_etcd_pod(cp: &ControlPlane, ns: &NetNs, bin: &Path, root: &Path) {
    let manifest: serde_json::Value =
        serde_saphyr::from_str(&fs_err::read_to_string(root.join("etc/kubernetes/manifests/etcd.yaml")).unwrap()).unwrap();
    let mut pod = manifest.clone();
    pod["metadata"]["name"] = "etcd-cp-0".into();
    pod["spec"]["nodeSelector"] = serde_json::json!({"airadm.test/mirror-of": "cp-0"});
    let file = root.with_extension("etcd-pod.json");
    fs_err::write(&file, pod.to_string()).unwrap();
    // The Pod needs the namespace's default ServiceAccount, which the controller-manager makes
    // a moment after it starts (a kubelet's mirror Pod is exempt).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = cp.kubectl(ns, bin).arg("create").arg("-f").arg(&file).output().unwrap();
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("serviceaccount \"default\" not found") && std::time::Instant::now() < deadline, "{err}\n{}", cp.logs());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// etcdctl (Debian's) in `ns` against `endpoint`, with `root`'s healthcheck client.
fn etcdctl(ns: &NetNs, root: &Path, endpoint: &str, args: &[&str]) -> Command {
    let pki = root.join("etc/kubernetes/pki/etcd");
    let mut cmd = ns.command(testkit::require("etcdctl", "etcd-client"));
    cmd.arg(format!("--endpoints=https://{endpoint}:2379")).arg("--cacert").arg(pki.join("ca.crt"));
    cmd.arg("--cert").arg(pki.join("healthcheck-client.crt")).arg("--key").arg(pki.join("healthcheck-client.key"));
    cmd.args(args);
    cmd
}

/// `(name, isLearner)` of every member, sorted.
fn members(ns: &NetNs, root: &Path) -> Vec<(String, bool)> {
    let out = run_ok(etcdctl(ns, root, FIRST, &["member", "list", "-w", "json"]));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut members: Vec<(String, bool)> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap_or("").to_owned(), m["isLearner"].as_bool().unwrap_or(false)))
        .collect();
    members.sort();
    members
}

/// A node joining: the harness plays its kubelet and its static Pods while `join` runs.
struct Joined {
    stdout: String,
    context: String,
    ok: bool,
    static_pods: Option<ControlPlane>,
}

fn join_node(ns: &NetNs, root: &Path, bin: &Path, mut join: Command, first: &ControlPlane) -> Joined {
    fs_err::create_dir_all(root).unwrap();
    let kubelet = kubelet_harness(ns, root, bin.join("kubelet"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pods = ControlPlane::when_manifests(ns, root, bin, stop.clone());
    let out = join.output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let static_pods = pods.join().unwrap();
    if let Some(mut child) = kubelet.join().unwrap() {
        child.kill().ok();
        child.wait().ok();
    }
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    let kubelet_log = fs_err::read_to_string(root.with_extension("kubelet.log")).unwrap_or_default();
    let own = static_pods.as_ref().map(ControlPlane::logs).unwrap_or_default();
    let context = format!(
        "stdout:\n{stdout}\nstderr:\n{stderr}\nkubelet:\n{}\n--- joining node ---\n{own}\n--- first node ---\n{}",
        tail(&kubelet_log),
        first.logs()
    );
    Joined { stdout: stdout + &stderr, context, ok: out.status.success(), static_pods }
}

#[test]
fn a_second_control_plane_joins_its_etcd_member_is_promoted_and_reset_removes_it() {
    let _one_kubelet_host = KUBELET_HOST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let bin = reference::toolchain(
        VERSION,
        &["kubeadm", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet"],
    );
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let config = w.path("kubeadm.yaml");
    fs_err::write(&config, init_config()).unwrap();
    let cp0 = w.path("cp0");
    fs_err::create_dir_all(&cp0).unwrap();
    let init = |args: &[&str]| {
        let mut cmd = crate::airadm();
        cmd.arg("init").args(args).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        cmd.arg("--rootfs").arg(&cp0).arg("--config").arg(&config);
        cmd
    };
    run_ok(init(&[
        "--skip-phases=import,binaries,preflight,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
    ]));
    let (ns0, ns1) = NetNs::pair(FIRST, SECOND);
    let first = ControlPlane::start(&ns0, &cp0, &bin);
    for phase in [&["upload-config", "all"][..], &["bootstrap-token"], &["upload-certs"]] {
        let mut cmd = ns0.command(crate::testkit_bin("airadm"));
        cmd.args(["init", "phase"]).args(phase).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        cmd.arg("--rootfs").arg(&cp0).arg("--config").arg(&config);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "init phase {phase:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), first.logs());
    }
    publish_etcd_pod(&first, &ns0, &bin, &cp0);
    let hash = installer::kubeadm::api::ca_cert_hash(&fs_err::read(cp0.join("etc/kubernetes/pki/ca.crt")).unwrap()).unwrap();
    let ctd = testkit::Containerd::start("registry.k8s.io/pause:3.10.1");
    let _traces = HostTraces::new();

    // airadm joins cp-1.
    let ours = w.path("cp1");
    let mut join = ns1.command(crate::testkit_bin("airadm"));
    join.arg("join").args(join_args(&hash, &ctd.socket())).arg("--skip-phases=import,binaries");
    join.arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public).arg("--rootfs").arg(&ours);
    let joined = join_node(&ns1, &ours, &bin, join, &first);
    let context = &joined.context;
    assert!(joined.ok && joined.stdout.contains(CP_DONE), "airadm join --control-plane failed\n{context}");
    for line in [
        "[download-certs] Downloading the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace",
        "[check-etcd] Checking that the etcd cluster is healthy",
        "[etcd] Announced new etcd member joining to the existing etcd cluster",
        "[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s",
        "[mark-control-plane] Marking the node cp-1 as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]",
        "[control-plane-check] Checking kube-apiserver at https://10.77.1.21:6443/livez",
    ] {
        assert!(joined.stdout.contains(line), "{line}\n{context}");
    }
    // Two voting members; the shared CAs and keys are the first node's.
    assert_eq!(members(&ns0, &cp0), [("cp-0".to_owned(), false), ("cp-1".to_owned(), false)], "{context}");
    run_ok(etcdctl(&ns0, &cp0, SECOND, &["endpoint", "health"]));
    for file in ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key"] {
        let pki = |root: &Path| fs_err::read(root.join("etc/kubernetes/pki").join(file)).unwrap();
        assert_eq!(pki(&ours), pki(&cp0), "{file}: downloaded (left), the first node's (right)");
    }
    let taints = run_ok(first.kubectl(&ns0, &bin).args(["get", "node", "cp-1", "-o", "jsonpath={.spec.taints[*].key} {.metadata.labels}"]));
    assert!(
        taints.starts_with("node-role.kubernetes.io/control-plane ")
            && taints.contains("node.kubernetes.io/exclude-from-external-load-balancers"),
        "{taints}"
    );
    let kept = snapshot(&ours, &joined.stdout);

    // airadm reset on cp-1, its etcd still up (a member leaves while the cluster has quorum).
    let mut reset = ns1.command(crate::testkit_bin("airadm"));
    reset.args(["reset", "-f", "--rootfs"]).arg(&ours);
    let out = reset.output().unwrap();
    assert!(out.status.success(), "airadm reset: {}\n{}", String::from_utf8_lossy(&out.stderr), first.logs());
    drop(joined.static_pods);
    assert_eq!(members(&ns0, &cp0), [("cp-0".to_owned(), false)]);
    run_ok(etcdctl(&ns0, &cp0, FIRST, &["endpoint", "health"]));
    assert!(!ours.join("etc/kubernetes/manifests/etcd.yaml").exists() && !ours.join("etc/kubernetes/pki/ca.key").exists());

    // Real kubeadm joins the same node with the same arguments, after kubeadm's own procedure
    // for a node that left (its Node deleted).
    run_ok(first.kubectl(&ns0, &bin).args(["delete", "node", "cp-1"]));
    let theirs = w.path("kubeadm-cp1");
    // kubeadm's preflight talks to the runtime from inside its --rootfs: the socket is bound
    // there, in a mount namespace of the command's own.
    let socket = ctd.socket();
    let inside = theirs.join(socket.strip_prefix("/").unwrap());
    fs_err::create_dir_all(inside.parent().unwrap()).unwrap();
    fs_err::write(&inside, "").unwrap();
    let script = format!(
        "mount --bind {socket} {inside} && exec {kubeadm} join {args} --rootfs {theirs}",
        socket = socket.display(),
        inside = inside.display(),
        kubeadm = bin.join("kubeadm").display(),
        args = join_args(&hash, &socket).join(" "),
        theirs = theirs.display()
    );
    let mut join = ns1.command("unshare");
    join.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    let joined = join_node(&ns1, &theirs, &bin, join, &first);
    assert!(joined.ok && joined.stdout.contains(CP_DONE), "kubeadm join --control-plane failed\n{}", joined.context);
    assert_eq!(members(&ns0, &cp0), [("cp-0".to_owned(), false), ("cp-1".to_owned(), false)]);
    let same = snapshot(&theirs, &joined.stdout);
    for (file, text) in &kept.files {
        assert_eq!(Some(text), same.files.get(file), "{file}: airadm join (left), kubeadm join (right)");
    }
    assert_eq!(kept.files.keys().collect::<Vec<_>>(), same.files.keys().collect::<Vec<_>>());
    assert_eq!(kept.lines, same.lines, "what join prints: airadm (left), kubeadm (right)");
    drop(joined.static_pods);
    drop(first);
}

/// What a control-plane join leaves, in comparable form.
struct Snapshot {
    /// Node path → content; certificates as their subject, issuer and extensions, kubeconfigs
    /// without their client key pair.
    files: std::collections::BTreeMap<String, String>,
    /// The lines it printed that do not depend on timing or on key material.
    lines: Vec<String>,
}

fn snapshot(root: &Path, said: &str) -> Snapshot {
    let mut files = std::collections::BTreeMap::new();
    for file in [
        "etc/kubernetes/manifests/etcd.yaml",
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "etc/kubernetes/manifests/kube-controller-manager.yaml",
        "etc/kubernetes/manifests/kube-scheduler.yaml",
        "var/lib/kubelet/config.yaml",
        "var/lib/kubelet/kubeadm-flags.env",
        "var/lib/kubelet/instance-config.yaml",
    ] {
        let text = fs_err::read_to_string(root.join(file)).unwrap_or_else(|e| format!("missing: {e}"));
        // etcd lists the members by their random ids, and both write them in that order.
        let text: Vec<String> = text
            .lines()
            .map(|line| match line.split_once("--initial-cluster=") {
                Some((indent, members)) => {
                    let mut members: Vec<&str> = members.split(',').collect();
                    members.sort_unstable();
                    format!("{indent}--initial-cluster={}", members.join(","))
                }
                None => line.to_owned(),
            })
            .collect();
        files.insert(file.to_owned(), text.join("\n"));
    }
    for conf in ["admin.conf", "controller-manager.conf", "scheduler.conf"] {
        let text = fs_err::read_to_string(root.join("etc/kubernetes").join(conf)).unwrap_or_default();
        let kept: Vec<&str> = text.lines().filter(|l| !l.contains("client-certificate-data") && !l.contains("client-key-data")).collect();
        files.insert(format!("etc/kubernetes/{conf}"), kept.join("\n"));
    }
    for cert in [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "apiserver-etcd-client",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
    ] {
        let path = root.join(format!("etc/kubernetes/pki/{cert}.crt"));
        // Subject, issuer, SANs, usages and key algorithm (the order of the extensions is rcgen's).
        let (fields, _, _) = crate::certs_cmds::describe(&fs_err::read(&path).unwrap());
        files.insert(format!("etc/kubernetes/pki/{cert}.crt"), fields);
    }
    let bootstrap = fs_err::read_to_string(root.with_extension("bootstrap-kubelet.conf")).unwrap_or_default();
    files.insert("etc/kubernetes/bootstrap-kubelet.conf (as the kubelet found it)".into(), bootstrap);
    Snapshot { files, lines: phase_lines(said) }
}

/// The phase lines both print, in order, but the certificate lines (kubeadm walks its CA tree
/// in map order), sorted at the end.
fn phase_lines(text: &str) -> Vec<String> {
    let keep = [
        "[preflight] R",
        "[download-certs]",
        "[kubeconfig]",
        "[control-plane]",
        "[check-etcd]",
        "[kubelet-start] ",
        "[etcd]",
        "[mark-control-plane]",
        "[control-plane-check] Checking",
        "[control-plane-check] Waiting",
    ];
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| keep.iter().any(|p| l.starts_with(p)))
        .filter(|l| !l.contains("systemd drop-in"))
        .map(str::to_owned)
        .collect();
    let mut certs: Vec<String> = text.lines().filter(|l| l.starts_with("[certs]")).map(str::to_owned).collect();
    certs.sort();
    lines.extend(certs);
    lines
}
