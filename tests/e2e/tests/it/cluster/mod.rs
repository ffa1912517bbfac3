//! A real cluster from one signed bundle, fully offline, on this one machine (issue 13; by hand:
//! `tests/cluster.sh`). Four nodes (`testkit::node`: own network, mount and UTS namespaces, own
//! containerd, the harness as their init system) on a private network:
//!
//! 1. the bundle is built from loopback servers, which are then stopped;
//! 2. node-1: `airadm init` with every phase, the control plane under the real kubelet from the
//!    imported images, and airadm's default bridge network (`cni` phase);
//! 3. node-2 joins as a worker, node-3 as a second control plane, each with the printed command;
//! 4. node-4 joins with real `kubeadm join` (images imported with `ctr`, binaries and unit by hand);
//! 5. all four are Ready, etcd has two voting members, and workloads run: an image the bundle
//!    carries (`--extra-image`) serves on node-2, reached by pod IP from node-1, and from inside
//!    it `kubernetes.default` resolves through CoreDNS and the API server answers on its service IP;
//! 6. `airadm reset` on every node leaves no pod, process, file or interface of the cluster, and
//!    once the nodes are gone the host is as it was.
//!
//! A failing step prints every node's kubelet, containerd and Pod logs.

mod checks;
mod setup;

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use testkit::cluster::{self, kubectl};
use testkit::node::{Network, Node};
use testkit::{run_ok, workspace_bin};

use setup::Bundle;

pub const VERSION: &str = "v1.34.4";
const COMMANDS: &[&str] =
    &["kubectl", "kubeadm", "kubelet", "crictl", "etcdctl", "containerd", "bridge", "host-local", "loopback", "portmap"];
const READY_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn a_cluster_from_one_signed_bundle_with_no_network() {
    let _one_kubelet_host = crate::join::KUBELET_HOST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = checks::HostState::now();
    let bin = testkit::reference::toolchain(VERSION, COMMANDS);
    let bundle = setup::bundle(&bin);
    let dir = tempfile::Builder::new().prefix("airadm-cluster-").tempdir().unwrap();
    let network = Network::new();
    let mut nodes: Vec<Node> = (1..=4).map(|n| setup::node(&network, n, dir.path(), &bin, &bundle)).collect();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| scenario(&mut nodes, &bin, &bundle, dir.path())));
    if let Err(panic) = result {
        #[allow(clippy::print_stderr)]
        for node in &nodes {
            eprintln!("{}", node.logs());
        }
        std::panic::resume_unwind(panic);
    }
    let names: Vec<String> = nodes.iter().map(|n| n.cgroup_root().trim_start_matches('/').to_owned()).collect();
    drop(nodes);
    drop(network);
    checks::HostState::now().assert_same(&before, dir.path(), &names);
}

fn scenario(nodes: &mut [Node], bin: &Path, bundle: &Bundle, dir: &Path) {
    let start = Instant::now();
    let config = dir.join("init.yaml");
    fs_err::write(&config, cluster::init_config(&nodes[0], VERSION)).unwrap();
    let init = airadm(&nodes[0], bundle, &["init", "--upload-certs", "--config", &config.display().to_string()]);
    let init_took = start.elapsed();
    for phase in ["[import]", "[binaries]", "[preflight]", "[certs]", "[kubeconfig]", "[etcd]", "[control-plane]", "[kubelet-start]"] {
        assert!(init.contains(phase), "init printed no {phase} line:\n{init}");
    }
    assert!(init.contains("[cni] Writing the bridge network for pod CIDRs 10.244."), "{init}");
    // No working init system (none, or a systemctl with no systemd running): said as kubeadm
    // says it, and not a failure; the harness plays the init system.
    let said =
        ["[kubelet-start] No supported init system detected", "[kubelet-start] Please ensure kubelet is reloaded and running manually"];
    assert!(said.iter().any(|s| init.contains(s)), "{init}");
    run_ok(kubectl(&nodes[0], bin, &["get", "nodes"]));
    let (control_plane, worker) = cluster::join_commands(&init, "airadm");

    let joins = Instant::now();
    let joined = airadm_words(&nodes[1], bundle, &worker);
    assert!(joined.contains("This node has joined the cluster"), "{joined}");
    let joined = airadm_words(&nodes[2], bundle, &control_plane);
    assert!(joined.contains("a new control plane instance was created"), "{joined}");
    let joins_took = joins.elapsed();
    checks::kubeadm_join(&nodes[3], bundle, dir, &worker);

    checks::route_pod_cidrs(nodes, bin);
    let ready = cluster::wait_ready(&nodes[0], bin, 4, READY_TIMEOUT);
    report(&format!(
        "cluster: bundle to 4 nodes Ready in {:?} (init {init_took:?}, two airadm joins {joins_took:?}, Ready {ready:?} after the last join)",
        start.elapsed()
    ));
    checks::etcd_has_two_voting_members(&nodes[0], bin);
    checks::workloads(nodes, bin);
    checks::reset_leaves_nothing(nodes, bin);
}

/// A figure for the test's output (`--nocapture`; tests/cluster.sh shows it).
#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("{line}");
}

/// `airadm ARGS… --bundle B --trusted-key K` on `node`, which must succeed; its stdout.
fn airadm(node: &Node, bundle: &Bundle, args: &[&str]) -> String {
    let mut cmd = node.command(workspace_bin("airadm"));
    cmd.args(args).arg("--bundle").arg(&bundle.file).arg("--trusted-key").arg(&bundle.public_key);
    run_ok(&mut cmd)
}

/// A printed `airadm join …` command run on `node` as its words say, with the trusted key (the
/// printed `--bundle FILE` names the bundle's file, found in its directory).
fn airadm_words(node: &Node, bundle: &Bundle, words: &[String]) -> String {
    let mut cmd = node.command_in(bundle.file.parent().unwrap(), workspace_bin("airadm"));
    cmd.args(&words[1..]).arg("--trusted-key").arg(&bundle.public_key);
    run_ok(&mut cmd)
}
