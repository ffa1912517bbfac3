//! A cluster on [`crate::node`]s, for the cluster test and the bundle-to-Ready benchmark: the
//! config a user passes on this machine, kubectl through a node's admin.conf, pod CIDR routes,
//! readiness, and kubeadm's own way to a node (images imported with `ctr`, binaries and unit
//! installed by hand from the extracted bundle, a bridge network of the user's own).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::node::Node;
use crate::run_ok;

/// The pod network of the clusters (the controller-manager gives each Node a /24 of it).
pub const POD_SUBNET: &str = "10.244.0.0/16";

/// kubeadm's documents for the first node on this machine: the kubelet on cgroup v1 with the
/// cgroupfs driver (and eviction thresholds a test disk meets), kube-proxy leaving the conntrack
/// sysctls a network namespace may not set. The same for airadm and kubeadm.
pub fn init_config(node: &Node, version: &str) -> String {
    format!(
        r#"apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: {address}
nodeRegistration:
  name: {name}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {version}
controlPlaneEndpoint: {address}:6443
networking:
  podSubnet: {POD_SUBNET}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
evictionHard:
  nodefs.available: "1%"
  imagefs.available: "1%"
  memory.available: "100Mi"
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
"#,
        address = node.address,
        name = node.name,
    )
}

/// The join commands `init` printed (airadm's or kubeadm's): (control plane, worker), each as
/// its words; the control-plane one is empty when none was printed.
pub fn join_commands(init_stdout: &str, program: &str) -> (Vec<String>, Vec<String>) {
    let text = init_stdout.replace("\\\n", " ");
    let prefix = format!("{program} join ");
    let commands: Vec<Vec<String>> =
        text.lines().map(str::trim).filter(|l| l.starts_with(&prefix)).map(|l| l.split_whitespace().map(str::to_owned).collect()).collect();
    let (control_plane, worker): (Vec<_>, Vec<_>) = commands.into_iter().partition(|c| c.iter().any(|w| w == "--control-plane"));
    let worker = worker.into_iter().next().unwrap_or_else(|| panic!("init printed no worker join command:\n{init_stdout}"));
    (control_plane.into_iter().next().unwrap_or_default(), worker)
}

/// `kubectl --kubeconfig /etc/kubernetes/admin.conf ARGS…` on `node`.
pub fn kubectl(node: &Node, bin: &Path, args: &[&str]) -> Command {
    let mut cmd = node.command(bin.join("kubectl"));
    cmd.args(["--kubeconfig", "/etc/kubernetes/admin.conf"]).args(args);
    cmd
}

/// Every Node's pod CIDR, once each of `count` has one.
pub fn pod_cidrs(admin: &Node, bin: &Path, count: usize, timeout: Duration) -> Vec<(String, String)> {
    let query = ["get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{\"\\n\"}{end}"];
    let deadline = Instant::now() + timeout;
    loop {
        let out = run_ok(kubectl(admin, bin, &query));
        let cidrs: Vec<(String, String)> =
            out.lines().filter_map(|l| l.split_once(' ')).filter(|(_, c)| !c.is_empty()).map(|(n, c)| (n.into(), c.into())).collect();
        if cidrs.len() == count {
            return cidrs;
        }
        assert!(Instant::now() < deadline, "not every node has a pod CIDR after {timeout:?}: {out}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Each node routes every other node's pod CIDR through that node (one L2 network: what
/// flannel's host-gw, or the datacenter's routers, would do).
pub fn route_pod_cidrs(nodes: &[Node], cidrs: &[(String, String)]) {
    for node in nodes {
        for (other, cidr) in cidrs.iter().filter(|(n, _)| *n != node.name) {
            let via = nodes.iter().find(|n| n.name == *other).unwrap_or_else(|| panic!("no node {other}"));
            node.route(cidr, &via.address);
        }
    }
}

/// Waits until `count` Nodes are Ready; how long that took.
pub fn wait_ready(admin: &Node, bin: &Path, count: usize, timeout: Duration) -> Duration {
    let start = Instant::now();
    let query = [
        "get",
        "nodes",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
    ];
    loop {
        let out = kubectl(admin, bin, &query).output().expect("kubectl");
        let out = String::from_utf8_lossy(&out.stdout);
        if out.lines().filter(|l| l.ends_with("=True")).count() == count {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "not {count} nodes Ready after {timeout:?}: {out}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// kubeadm's packaged unit and drop-in (kubernetes/release's `kubelet.service` and
/// `10-kubeadm.conf`), installed by hand as a kubeadm user without packages would.
pub const KUBELET_UNIT: &str = "[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nDocumentation=https://kubernetes.io/docs/\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/local/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n";
pub const KUBEADM_DROP_IN: &str = "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n";

/// A kubeadm user's own network on a node: the CNI project's bridge example for its pod CIDR.
pub const USER_CONFLIST: &str = "/etc/cni/net.d/10-bridge.conflist";
pub fn user_network(cidr: &str) -> String {
    format!(
        r#"{{"cniVersion": "1.0.0", "name": "bridge", "plugins": [{{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{cidr}"}}]], "routes": [{{"dst": "0.0.0.0/0"}}]}}}}, {{"type": "portmap", "capabilities": {{"portMappings": true}}}}]}}"#
    )
}

/// kubeadm's way to a node from the bundle on disk: `zstd -dc | tar x` into `scratch`, `ctr
/// images import` of its OCI layout, its binaries into `/usr/local/bin` and `/opt/cni/bin`
/// (`install -m 0755`: the bundle stores them as plain files), and kubeadm's unit. The bundle is
/// not verified: that is what airadm adds.
pub fn install_by_hand(node: &Node, bundle: &Path, scratch: &Path) {
    fs_err::create_dir_all(scratch).unwrap();
    let (b, s) = (bundle.display(), scratch.display());
    run_ok(Command::new("sh").arg("-c").arg(format!("zstd -dc {b} | tar -x -C {s} bin cni oci && tar -C {s}/oci -cf {s}/images.tar .")));
    run_ok(node.command("ctr").args(["-n", "k8s.io", "images", "import"]).arg(scratch.join("images.tar")));
    let install = |from: PathBuf, to: PathBuf| run_ok(Command::new("install").arg("-m").arg("0755").arg(from).arg(to));
    for name in ["kubelet", "kubeadm", "kubectl", "crictl"] {
        install(scratch.join("bin").join(name), node.host_path(&format!("/usr/local/bin/{name}")));
    }
    for entry in fs_err::read_dir(scratch.join("cni/bin")).unwrap().filter_map(Result::ok) {
        install(entry.path(), node.host_path(&format!("/opt/cni/bin/{}", entry.file_name().to_string_lossy())));
    }
    node.write("/etc/systemd/system/kubelet.service", KUBELET_UNIT);
    node.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN);
}
