//! `airadm join` against a real control plane (the reference v1.34.4 etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler, from the static Pods `airadm init` wrote, in a
//! network namespace), with the reference kubelet doing the TLS bootstrap. Discovery checks the
//! `cluster-info` signature the real controller-manager adds and pins the CA; a wrong token, a
//! wrong pin and a tampered `cluster-info` are refused with nothing written; the kubelet's TLS
//! bootstrap gives a client certificate for `system:node:NAME` signed by the cluster CA; the
//! files join writes are those real `kubeadm join` writes for the same cluster and config. The
//! kubelet here has no runtime to run pods with (that is the real-cluster test): the cluster's
//! KubeletConfiguration turns client certificate rotation off so that it bootstraps before it
//! looks for one, then it stops, and both joins stop at the kubelet's health check.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::controlplane::{ControlPlane, NetNs};
use testkit::{reference, run_fails, run_ok};

use crate::{World, airadm};

mod control_plane;
mod interop;

/// One test at a time runs kubelets on this host (they share its cgroups and mount points).
pub(crate) static KUBELET_HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

const VERSION: &str = "v1.34.4";
const ADDRESS: &str = "10.77.0.20";
const TOKEN: &str = "abcdef.0123456789abcdef";
/// kubeadm's closing message of a worker join.
const WORKER_DONE: &str = "This node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n";

fn init_config() -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: {TOKEN}
localAPIEndpoint:
  advertiseAddress: {ADDRESS}
nodeRegistration:
  name: cp-0
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {VERSION}
clusterName: join-test
---
# These machines have no systemd: the kubelet manages cgroups itself, as a user here would set.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
"
    )
}

fn join_config(token: &str, hash: &str, socket: &Path) -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {ADDRESS}:6443
    token: {token}
    caCertHashes: [{hash}]
nodeRegistration:
  name: worker-1
  criSocket: unix://{socket}
  ignorePreflightErrors: [all]
timeouts:
  discovery: 20s
  kubeletHealthCheck: 40s
  tlsBootstrap: 40s
",
        socket = socket.display()
    )
}

/// Plays the init system for a joining node under `root`: once kubelet-start has written the
/// bootstrap kubeconfig and the kubelet's files, keeps a copy of the bootstrap kubeconfig and
/// starts the reference kubelet as kubeadm's systemd drop-in does (`$KUBELET_KUBECONFIG_ARGS
/// $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS` from `kubeadm-flags.env`), in a mount namespace of
/// its own where the node's `/etc/kubernetes` and `/var/lib/kubelet` are those under `root`.
fn kubelet_harness(ns: &NetNs, root: &Path, kubelet: PathBuf) -> std::thread::JoinHandle<Option<Child>> {
    let (root, mut cmd) = (root.to_owned(), ns.enter("unshare"));
    std::thread::spawn(move || {
        let bootstrap = root.join("etc/kubernetes/bootstrap-kubelet.conf");
        let ready = ["etc/kubernetes/bootstrap-kubelet.conf", "var/lib/kubelet/config.yaml", "var/lib/kubelet/kubeadm-flags.env"];
        let deadline = Instant::now() + Duration::from_secs(120);
        while !ready.iter().all(|f| root.join(f).exists()) {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        fs_err::copy(&bootstrap, root.with_extension("bootstrap-kubelet.conf")).ok();
        let script = format!(
            "set -e; mount --bind {root}/etc/kubernetes /etc/kubernetes; mount --bind {root}/var/lib/kubelet /var/lib/kubelet; \
             . /var/lib/kubelet/kubeadm-flags.env; \
             exec {kubelet} --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf \
             --config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS",
            root = root.display(),
            kubelet = kubelet.display()
        );
        let log = fs_err::File::create(root.with_extension("kubelet.log")).unwrap().into_parts().0;
        cmd.args(["-m", "--propagation", "private", "sh", "-c", &script]).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        Some(cmd.spawn().unwrap())
    })
}

/// What the kubelets leave on the host, undone when dropped: the mount points the harness binds
/// the node's directories on (made when the host lacks them), the pod log directories, and the
/// kubelet's cgroups.
struct HostTraces(Vec<&'static str>);

impl HostTraces {
    fn new() -> Self {
        let absent = ["/etc/kubernetes", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers"];
        let absent: Vec<&'static str> = absent.into_iter().filter(|d| !Path::new(d).exists()).collect();
        for dir in absent.iter().filter(|d| !d.starts_with("/var/log")) {
            fs_err::create_dir_all(dir).unwrap();
        }
        Self(absent)
    }
}

impl Drop for HostTraces {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
        // The kubelet's cgroups (`kubepods` under each controller), deepest first.
        let out = Command::new("find").args(["/sys/fs/cgroup", "-depth", "-type", "d", "-name", "kubepods*"]).output();
        for dir in out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines() {
            let _ = Command::new("find").args([dir, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]).status();
        }
    }
}

/// Every file under `root`, relative.
fn files(root: &Path) -> Vec<String> {
    let out = run_ok(Command::new("find").arg(root).args(["-type", "f", "-printf", "%P\\n"]));
    let mut list: Vec<String> = out.lines().map(str::to_owned).collect();
    list.sort();
    list
}

#[test]
fn a_worker_joins_a_real_control_plane_as_kubeadm_join_does() {
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
    let cp_root = w.path("cp");
    fs_err::create_dir_all(&cp_root).unwrap();
    let airadm_init = |args: &[&str]| {
        let mut cmd = airadm();
        cmd.args(["init"]).args(args).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        cmd.arg("--rootfs").arg(&cp_root).arg("--config").arg(&config);
        cmd
    };
    run_ok(airadm_init(&[
        "--skip-phases=import,binaries,preflight,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
    ]));
    let ns = NetNs::new(ADDRESS);
    let cp = ControlPlane::start(&ns, &cp_root, &bin);
    for phase in [&["upload-config", "all"][..], &["bootstrap-token"]] {
        let mut cmd = ns.command(crate::testkit_bin("airadm"));
        cmd.args(["init", "phase"]).args(phase).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        cmd.arg("--rootfs").arg(&cp_root).arg("--config").arg(&config);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "init phase {phase:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), cp.logs());
    }
    // The joining nodes' runtime (a kubelet stops at once without one).
    let ctd = testkit::Containerd::start("registry.k8s.io/pause:3.10.1");
    let hash = installer::kubeadm::api::ca_cert_hash(&fs_err::read(cp_root.join("etc/kubernetes/pki/ca.crt")).unwrap()).unwrap();

    let join = |root: &Path, config_text: &str| {
        fs_err::create_dir_all(root).unwrap();
        let file = root.with_extension("join.yaml");
        fs_err::write(&file, config_text).unwrap();
        let mut cmd = ns.command(crate::testkit_bin("airadm"));
        cmd.args(["join", "--skip-phases=import,binaries", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public);
        cmd.arg("--rootfs").arg(root).arg("--config").arg(&file);
        cmd
    };
    // Refused before anything is written: another secret for the same token id, another pin.
    let refused = w.path("refused");
    let err = run_fails(join(&refused, &join_config("abcdef.fedcba9876543210", &hash, &ctd.socket())));
    assert!(err.contains("failed to verify JWS signature of received cluster info object"), "{err}");
    let other_ca =
        installer::kubeadm::api::ca_cert_hash(&fs_err::read(w.path("cp/etc/kubernetes/pki/front-proxy-ca.crt")).unwrap()).unwrap();
    let err = run_fails(join(&refused, &join_config(TOKEN, &other_ca, &ctd.socket())));
    assert!(err.contains(&format!("none of the public keys \"{hash}\" are pinned")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(files(&refused).is_empty(), "a refused join wrote {:?}", files(&refused));

    // The worker joins: the real kubelet bootstraps its client certificate with the token.
    let _traces = HostTraces::new();
    let worker = w.path("worker");
    fs_err::create_dir_all(&worker).unwrap();
    let harness = kubelet_harness(&ns, &worker, bin.join("kubelet"));
    let out = join(&worker, &join_config(TOKEN, &hash, &ctd.socket())).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let kubelet = harness.join().unwrap();
    let kubelet_log = fs_err::read_to_string(worker.with_extension("kubelet.log")).unwrap_or_default();
    if let Some(mut child) = kubelet {
        child.kill().ok();
        child.wait().ok();
    }
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}\nkubelet:\n{}\n{}", tail(&kubelet_log), cp.logs());
    for line in [
        "[preflight] Running pre-flight checks",
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
        "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"",
        "[kubelet-start] Writing kubelet environment file with flags to file \"/var/lib/kubelet/kubeadm-flags.env\"",
        "[kubelet-start] Starting the kubelet",
    ] {
        assert!(stdout.contains(line), "{line}\n{context}");
    }
    assert!(out.status.success(), "airadm join failed\n{context}");
    assert!(stdout.contains("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap"), "{context}");
    assert!(stdout.contains("This node has joined the cluster:"), "{context}");
    let kubelet_conf = worker.join("etc/kubernetes/kubelet.conf");
    assert!(kubelet_conf.exists(), "no kubelet.conf: the TLS bootstrap did not happen\n{context}");
    // The kubelet names its rotated client certificate by node path.
    let conf = fs_err::read_to_string(&kubelet_conf).unwrap();
    let cert_path =
        conf.lines().find_map(|l| l.trim().strip_prefix("client-certificate: ")).unwrap_or_else(|| panic!("{conf}\n{:?}", files(&worker)));
    assert_eq!(cert_path, "/var/lib/kubelet/pki/kubelet-client-current.pem", "{conf}");
    let cert = worker.join(cert_path.trim_start_matches('/'));
    // The kubelet's certificate store links it to the dated file by its absolute node path.
    let cert = match fs_err::read_link(&cert) {
        Ok(target) if target.is_absolute() => worker.join(target.strip_prefix("/").unwrap()),
        Ok(target) => cert.parent().unwrap().join(target),
        Err(_) => cert,
    };
    assert!(cert.exists(), "{:?}\n{context}", files(&worker));
    let subject = run_ok(Command::new("openssl").args(["x509", "-noout", "-subject", "-in"]).arg(&cert));
    assert_eq!(subject.trim(), "subject=O = system:nodes, CN = system:node:worker-1");
    let verify = run_ok(Command::new("openssl").arg("verify").arg("-CAfile").arg(cp_root.join("etc/kubernetes/pki/ca.crt")).arg(&cert));
    assert!(verify.trim().ends_with(": OK"), "{verify}");
    assert!(
        !worker.join("etc/kubernetes/bootstrap-kubelet.conf").exists(),
        "kubeadm removes the bootstrap kubeconfig when kubelet-start ends"
    );
    assert_eq!(
        fs_err::read(worker.join("etc/kubernetes/pki/ca.crt")).unwrap(),
        fs_err::read(cp_root.join("etc/kubernetes/pki/ca.crt")).unwrap()
    );

    // Real kubeadm join, same cluster and config, into its own root: the same files.
    let theirs = w.path("kubeadm-worker");
    fs_err::create_dir_all(&theirs).unwrap();
    fs_err::write(theirs.join("join.yaml"), join_config(TOKEN, &hash, &ctd.socket())).unwrap();
    let harness = kubelet_harness(&ns, &theirs, bin.join("kubelet"));
    let mut kubeadm = ns.command(bin.join("kubeadm"));
    kubeadm.args(["join", "--config", "/join.yaml", "--rootfs"]).arg(&theirs);
    let out = kubeadm.output().unwrap();
    if let Some(mut child) = harness.join().unwrap() {
        child.kill().ok();
        child.wait().ok();
    }
    let kubeadm_said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for file in ["var/lib/kubelet/config.yaml", "var/lib/kubelet/kubeadm-flags.env", "etc/kubernetes/pki/ca.crt"] {
        let read = |root: &Path| fs_err::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{e}\nkubeadm:\n{kubeadm_said}"));
        assert_eq!(read(&worker), read(&theirs), "{file}: airadm join (left), kubeadm join (right)");
    }
    let copy = |root: &Path| fs_err::read_to_string(root.with_extension("bootstrap-kubelet.conf")).unwrap();
    assert_eq!(copy(&worker), copy(&theirs), "bootstrap-kubelet.conf: airadm join (left), kubeadm join (right)");
    // The same lines, in the same order (airadm's own: the drop-in it writes when no package did).
    let phase_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                ["[preflight] R", "[preflight] U", "[kubelet-start] ", "[kubelet-check] Waiting", "[patches] "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .filter(|l| !l.contains("systemd drop-in"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(phase_lines(&stdout), phase_lines(&kubeadm_said), "what join prints: airadm (left), kubeadm (right)");
    assert!(kubeadm_said.contains(WORKER_DONE) && stdout.contains(WORKER_DONE), "{kubeadm_said}");

    // Tokens on the same cluster: create (with the join line), list and delete, as kubeadm.
    let admin = cp_root.join("etc/kubernetes/admin.conf");
    let token_cmd = |program: &str, args: &[&str]| {
        let mut cmd = ns.command(program);
        cmd.arg("token").args(args).arg("--kubeconfig").arg(&admin);
        run_ok(cmd)
    };
    let airadm_bin = crate::testkit_bin("airadm");
    let kubeadm_bin = bin.join("kubeadm").display().to_string();
    let ours_line = token_cmd(&airadm_bin, &["create", "--print-join-command", "--description", "tokens test"]);
    let theirs_line = token_cmd(&kubeadm_bin, &["create", "--print-join-command", "--description", "tokens test"]);
    let token_of = |line: &str| line.split_whitespace().skip_while(|w| *w != "--token").nth(1).unwrap().to_owned();
    let (ours_token, theirs_token) = (token_of(&ours_line), token_of(&theirs_line));
    assert_eq!(
        ours_line.replace("airadm join", "kubeadm join").replace(&ours_token, "TOKEN"),
        theirs_line.replace(&theirs_token, "TOKEN"),
        "token create --print-join-command: airadm (left), kubeadm (right)"
    );
    let secret = |token: &str| {
        let mut cmd = cp.kubectl(&ns, &bin);
        cmd.args(["get", "secret", "-n", "kube-system", "-o", "jsonpath={.type} {.data}"]).arg(format!("bootstrap-token-{}", &token[..6]));
        let out = run_ok(cmd);
        // Same keys and values but the token's own and its expiry (created a moment apart).
        let (kind, data) = out.split_once(' ').unwrap();
        let mut data: serde_json::Map<String, serde_json::Value> = serde_json::from_str(data).unwrap();
        for key in ["token-id", "token-secret", "expiration"] {
            assert!(data.remove(key).is_some(), "{key} missing: {out}");
        }
        (kind.to_owned(), data)
    };
    assert_eq!(secret(&ours_token), secret(&theirs_token), "the token Secret: airadm (left), kubeadm (right)");
    assert_eq!(token_cmd(&airadm_bin, &["list"]), token_cmd(&kubeadm_bin, &["list"]), "token list: airadm (left), kubeadm (right)");
    assert_eq!(token_cmd(&airadm_bin, &["delete", &ours_token]), format!("bootstrap token {:?} deleted\n", &ours_token[..6]));
    assert_eq!(token_cmd(&kubeadm_bin, &["delete", &theirs_token]), format!("bootstrap token {:?} deleted\n", &theirs_token[..6]));
    let generated = run_ok(Command::new(&airadm_bin).args(["token", "generate"]));
    installer::kubeadm::discovery::Token::parse(generated.trim()).unwrap();
    drop(cp);
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
