//! What the cluster scenario starts from: the signed bundle (reference images, node binaries and
//! an extra workload image, built from loopback servers that are stopped before any node
//! starts), the nodes with their runtime and init system, and the config a user would pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::image::{Layer, TestImage};
use testkit::node::{Network, Node};
use testkit::releases::ReleaseServer;
use testkit::{run_ok, workspace_bin};

use super::{POD_SUBNET, VERSION};
use crate::World;

/// The workload image `airbundle build --extra-image` adds: busybox serving `/www` on 8080.
pub const WEB_IMAGE: &str = "registry.k8s.io/airadm-test/web:v1";
/// What the web pod serves.
pub const WEB_PAGE: &str = "hello from a bundle\n";

/// The bundle and the public key that verifies it.
pub struct Bundle {
    pub file: PathBuf,
    pub public_key: PathBuf,
    /// The image the runtime's sandboxes use (the bundle's pause).
    pub pause: String,
    _dir: tempfile::TempDir,
}

/// Builds the bundle as release engineering would, then stops the registry and the release
/// server: from here on nothing listens but the nodes.
pub fn bundle(bin: &Path) -> Bundle {
    let world = World::reference(VERSION);
    let busybox = fs_err::read("/bin/busybox").expect("/bin/busybox: apt-get install busybox-static");
    let layer = Layer::from_files(&[("bin/busybox", busybox, 0o755), ("www/index.html", WEB_PAGE.as_bytes().to_vec(), 0o644)]);
    let (repository, tag) = WEB_IMAGE.trim_start_matches("registry.k8s.io/").split_once(':').unwrap();
    let web = TestImage { repository: repository.into(), tag: tag.into(), platforms: vec![("amd64".into(), vec![layer])], docker_format: false };
    web.push(world.registry.addr());
    let server = ReleaseServer::start(VERSION, "amd64");
    let (key, public_key) = world.keygen("release");
    let airadm = format!("amd64={}", workspace_bin("airadm").display());
    let out = world.path("out");
    let extra = ["--binaries-mirror", &server.url(), "--airadm-binary", &airadm, "--extra-image", WEB_IMAGE];
    run_ok(world.build(&key, "amd64", &out, &extra));
    let file = world.bundle(&out, "amd64");
    let World { registry, dir, .. } = world;
    drop((server, registry));
    let pause = format!("registry.k8s.io/pause:{}", testkit::reference::versions(bin)["pause"]);
    Bundle { file, public_key, pause, _dir: dir }
}

/// Node `name` (`node-N` at `.1N`) with containerd running and its init system playing the
/// kubelet; the per-node kubelet flag an admin sets in `/etc/default/kubelet` (the unit's
/// `KUBELET_EXTRA_ARGS`): its own cgroup root, so that four kubelets share one host's cgroups.
pub fn node(network: &Network, n: u8, dir: &Path, bin: &Path, bundle: &Bundle) -> Node {
    let name = format!("node-{n}");
    let mut node = Node::start(network, &name, 10 + n, &dir.join(&name));
    node.start_containerd(bin, &bundle.pause);
    node.write("/etc/default/kubelet", &format!("KUBELET_EXTRA_ARGS=--cgroup-root={}\n", node.cgroup_root()));
    node.start_kubelet();
    node
}

/// The config of the first node: kubeadm's documents a user writes for this machine. The
/// kubelet runs on cgroup v1 with the cgroupfs driver, and kube-proxy leaves the conntrack
/// sysctls a network namespace may not set alone.
pub fn init_config(node: &Node) -> String {
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
kubernetesVersion: {VERSION}
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

/// The join commands init printed: (control plane, worker), each as its words.
pub fn join_commands(init_stdout: &str) -> (Vec<String>, Vec<String>) {
    let text = init_stdout.replace("\\\n", " ");
    let mut commands = text.lines().map(str::trim).filter(|l| l.starts_with("airadm join ")).map(|l| {
        l.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    });
    let first = commands.next().expect("init printed no join command");
    let second = commands.next().expect("init printed one join command only");
    if first.iter().any(|w| w == "--control-plane") { (first, second) } else { (second, first) }
}

/// `kubectl --kubeconfig /etc/kubernetes/admin.conf ARGS…` on `node`.
pub fn kubectl(node: &Node, bin: &Path, args: &[&str]) -> Command {
    let mut cmd = node.command(bin.join("kubectl"));
    cmd.args(["--kubeconfig", "/etc/kubernetes/admin.conf"]).args(args);
    cmd
}
