//! What the cluster scenario starts from: the signed bundle (reference images, node binaries and
//! an extra workload image, built from loopback servers that are stopped before any node
//! starts), the nodes with their runtime and init system, and the config a user would pass.

use std::path::{Path, PathBuf};

use testkit::image::{Layer, TestImage};
use testkit::node::{Network, Node};
use testkit::releases::ReleaseServer;
use testkit::{run_ok, workspace_bin};

use super::VERSION;
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
    let web =
        TestImage { repository: repository.into(), tag: tag.into(), platforms: vec![("amd64".into(), vec![layer])], docker_format: false };
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
