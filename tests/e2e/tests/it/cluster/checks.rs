//! The cluster scenario's steps past init and airadm's joins: the kubeadm-joined node, routes,
//! readiness, etcd, workloads, reset, and the host as it was.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::node::{Node, PRIVATE_DIRS};
use testkit::{run_ok, workspace_bin};

use super::setup::{Bundle, WEB_IMAGE, WEB_PAGE, kubectl};

/// kubeadm's packaged unit and drop-in (kubernetes/release, `kubelet.service` and
/// `10-kubeadm.conf`), installed by hand as a kubeadm user without packages would.
const KUBELET_UNIT: &str = "[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nDocumentation=https://kubernetes.io/docs/\nWants=network-online.target\nAfter=network-online.target\n\n[Service]\nExecStart=/usr/local/bin/kubelet\nRestart=always\nStartLimitInterval=0\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n";
const KUBEADM_DROP_IN: &str = "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n";

/// The kubeadm-joined node's own network: the CNI project's bridge example for its pod CIDR.
const USER_CONFLIST: &str = "/etc/cni/net.d/10-bridge.conflist";
const USER_NETWORK: &str = r#"{"cniVersion": "1.0.0", "name": "bridge", "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "ipam": {"type": "host-local", "ranges": [[{"subnet": "CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}}, {"type": "portmap", "capabilities": {"portMappings": true}}]}"#;

/// The fourth node, kubeadm's way: the bundle's images imported with `ctr`, the binaries and the
/// unit put in place by hand, real `kubeadm join` with the printed worker command's discovery
/// arguments, and a bridge network of the user's own (kubeadm installs none).
pub fn kubeadm_join(node: &Node, bin: &Path, bundle: &Bundle, dir: &Path, worker: &[String]) {
    let images = dir.join("kubeadm-images");
    fs_err::create_dir_all(&images).unwrap();
    run_ok(Command::new("sh").arg("-c").arg(format!(
        "zstd -dc {} | tar -x -C {} oci && tar -C {}/oci -cf {}/images.tar .",
        bundle.file.display(),
        images.display(),
        images.display(),
        images.display()
    )));
    run_ok(node.command("ctr").args(["-n", "k8s.io", "images", "import"]).arg(images.join("images.tar")));
    for name in ["kubelet", "kubeadm", "kubectl", "crictl"] {
        fs_err::copy(bin.join(name), node.host_path(&format!("/usr/local/bin/{name}"))).unwrap();
    }
    for name in ["bridge", "host-local", "loopback", "portmap"] {
        fs_err::copy(bin.join(name), node.host_path(&format!("/opt/cni/bin/{name}"))).unwrap();
    }
    node.write("/etc/systemd/system/kubelet.service", KUBELET_UNIT);
    node.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROP_IN);
    let discovery: Vec<&String> = worker[2..].iter().take_while(|w| *w != "--bundle").collect();
    let out = run_ok(node.command("/usr/local/bin/kubeadm").arg("join").args(discovery));
    assert!(out.contains("This node has joined the cluster"), "{out}");
}

/// Once every Node has its pod CIDR: each node routes every other node's pod CIDR through that
/// node (one L2 network; what flannel's host-gw or the datacenter's routers would do), and the
/// kubeadm-joined node, which has no airadm, gets the same bridge network written by hand.
pub fn route_pod_cidrs(nodes: &[Node], bin: &Path) {
    let query = ["get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR}{\"\\n\"}{end}"];
    let deadline = Instant::now() + Duration::from_secs(120);
    let cidrs = loop {
        let out = run_ok(kubectl(&nodes[0], bin, &query));
        let cidrs: Vec<(String, String)> =
            out.lines().filter_map(|l| l.split_once(' ')).filter(|(_, c)| !c.is_empty()).map(|(n, c)| (n.into(), c.into())).collect();
        if cidrs.len() == nodes.len() {
            break cidrs;
        }
        assert!(Instant::now() < deadline, "not every node has a pod CIDR: {out}");
        std::thread::sleep(Duration::from_millis(500));
    };
    for node in nodes {
        for (other, cidr) in cidrs.iter().filter(|(n, _)| *n != node.name) {
            let via = nodes.iter().find(|n| n.name == *other).unwrap();
            node.route(cidr, &via.address);
        }
    }
    let (_, own) = cidrs.iter().find(|(n, _)| *n == nodes[3].name).unwrap();
    nodes[3].write(USER_CONFLIST, &USER_NETWORK.replace("CIDR", own));
}

/// Waits until `count` Nodes are Ready; how long that took.
pub fn wait_ready(node: &Node, bin: &Path, count: usize, timeout: Duration) -> Duration {
    let start = Instant::now();
    let query = ["get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"];
    loop {
        let out = run_ok(kubectl(node, bin, &query));
        if out.lines().filter(|l| l.ends_with("=True")).count() == count {
            return start.elapsed();
        }
        assert!(start.elapsed() < timeout, "not {count} nodes Ready after {timeout:?}: {out}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// etcd, asked on node-1 with kubeadm's healthcheck client: two members, both voting, both healthy.
pub fn etcd_has_two_voting_members(node: &Node, bin: &Path) {
    let etcdctl = |args: &[&str]| {
        let mut cmd = node.command(bin.join("etcdctl"));
        cmd.arg(format!("--endpoints=https://{}:2379", node.address))
            .args(["--cacert=/etc/kubernetes/pki/etcd/ca.crt", "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt"])
            .args(["--key=/etc/kubernetes/pki/etcd/healthcheck-client.key"])
            .args(args);
        run_ok(&mut cmd)
    };
    let members = etcdctl(&["member", "list", "-w", "simple"]);
    assert_eq!(members.lines().count(), 2, "{members}");
    assert!(members.lines().all(|l| l.contains(", started, ") && l.ends_with(", false")), "a member is a learner or not started: {members}");
    let health = etcdctl(&["endpoint", "health", "--cluster"]);
    assert_eq!(health.matches("is healthy").count(), 2, "{health}");
}

/// The bundle's extra image serves on node-2; from inside it CoreDNS resolves and the API server
/// answers on its service IP; a pod on node-1 reaches it across nodes by pod IP.
pub fn workloads(nodes: &[Node], bin: &Path) {
    let cp = &nodes[0];
    let manifest = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      nodeSelector: {{kubernetes.io/hostname: {worker}}}\n      containers:\n      - name: web\n        image: {WEB_IMAGE}\n        imagePullPolicy: Never\n        command: [/bin/busybox, httpd, -f, -p, \"8080\", -h, /www]\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: client\nspec:\n  nodeName: {first}\n  tolerations: [{{operator: Exists}}]\n  containers:\n  - name: client\n    image: {WEB_IMAGE}\n    imagePullPolicy: Never\n    command: [/bin/busybox, sleep, \"3600\"]\n",
        worker = nodes[1].name,
        first = cp.name
    );
    let file = nodes[0].dir.join("workloads.yaml");
    fs_err::write(&file, manifest).unwrap();
    run_ok(kubectl(cp, bin, &["apply", "-f", &file.display().to_string()]));
    run_ok(kubectl(cp, bin, &["rollout", "status", "deployment/web", "--timeout=180s"]));
    run_ok(kubectl(cp, bin, &["wait", "--for=condition=Ready", "pod/client", "--timeout=180s"]));
    let exec = |pod: &str, command: &[&str]| {
        let mut args = vec!["exec", pod, "--", "/bin/busybox"];
        args.extend_from_slice(command);
        run_ok(kubectl(cp, bin, &args))
    };
    let dns = exec("deploy/web", &["nslookup", "kubernetes.default.svc.cluster.local"]);
    assert!(dns.contains("10.96.0.1"), "CoreDNS did not resolve kubernetes.default: {dns}");
    let version = exec("deploy/web", &["wget", "-qO-", "--no-check-certificate", "https://10.96.0.1/version"]);
    assert!(version.contains(&format!("\"gitVersion\": \"{}\"", super::VERSION)), "the API server's service IP: {version}");
    let ip = run_ok(kubectl(cp, bin, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"]));
    let page = exec("client", &["wget", "-qO-", &format!("http://{}:8080/", ip.trim())]);
    assert_eq!(page, WEB_PAGE, "node-1's pod reaching node-2's by pod IP");
}

/// `airadm reset -f` on every node (workers, then the second control plane, then the first),
/// the kubelet stopped first as `systemctl stop kubelet` would: no pod sandbox or container is
/// left in the runtime, no process but containerd and the namespace holder, no file in the
/// node's Kubernetes directories, and no interface but `lo` and `eth0`.
/// The kubeadm-joined node's own network is removed by hand after its reset, as kubeadm's
/// reset message says (`rm` of the config, `ip link delete cni0`).
pub fn reset_leaves_nothing(nodes: &mut [Node], bin: &Path) {
    for i in [3, 1, 2, 0] {
        let node = &mut nodes[i];
        node.stop_kubelet();
        let out = run_ok(node.command(workspace_bin("airadm")).args(["reset", "-f"]));
        assert!(out.contains("[reset]"), "{out}");
        if i == 3 {
            let bridge = if node.links().iter().any(|l| l == "cni0") { " && ip link delete cni0" } else { "" };
            run_ok(node.command("sh").args(["-c", &format!("rm {USER_CONFLIST}{bridge}")]));
        }
        let crictl = |what: &str| run_ok(node.command(bin.join("crictl")).args(["--runtime-endpoint", "unix:///run/containerd/containerd.sock", what, "-q"]));
        assert_eq!(crictl("pods").trim(), "", "pods left on {}", node.name);
        assert_eq!(crictl("ps").trim(), "", "containers left on {}", node.name);
        for private in PRIVATE_DIRS.iter().filter(|d| ["/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/etc/cni/net.d", "/var/lib/cni"].contains(d)) {
            let dir = node.host_path(&format!("{private}/x"));
            let left: Vec<_> = testkit::walk(dir.parent().unwrap()).into_iter().filter(|p| !p.is_dir()).collect();
            assert!(left.is_empty(), "{} left in {private} on {}: {left:?}", left.len(), node.name);
        }
        let links = node.links();
        assert_eq!(links, ["lo", "eth0"], "interfaces left on {}", node.name);
    }
}

/// What of the host the nodes could have touched: network namespaces, interfaces, mounts,
/// cgroups, and the host's own Kubernetes paths.
#[derive(Debug, PartialEq, Eq)]
pub struct HostState {
    /// The host's interfaces a node could leave (veths, bridges, anything named after a node).
    links: Vec<String>,
    host_paths: Vec<(String, bool)>,
}

impl HostState {
    pub fn now() -> Self {
        let links = run_ok(Command::new("ip").args(["-o", "link", "show"]));
        let ours = |l: &&str| l.starts_with("veth") || l.starts_with("cni") || l.starts_with("v-") || l.contains("node-");
        let mut links: Vec<String> = links.lines().filter_map(|l| l.split(": ").nth(1)).filter(ours).map(str::to_owned).collect();
        links.sort();
        let host_paths = PRIVATE_DIRS.iter().chain(&["/etc/systemd/system/kubelet.service", "/etc/default/kubelet"]).map(|p| (p.to_string(), Path::new(p).exists())).collect();
        Self { links, host_paths }
    }

    /// The same interfaces and host paths as `before`, and nothing of the nodes in `dir` mounted,
    /// no namespace or cgroup of theirs, no process running from the workspace's airadm or kubelet.
    pub fn assert_same(&self, before: &Self, dir: &Path, nodes: &[String]) {
        assert_eq!(self, before, "the host changed");
        let mounts = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = dir.display().to_string();
        assert!(!mounts.contains(&dir), "mounts of the nodes are left on the host: {mounts}");
        let netns = run_ok(Command::new("ip").args(["netns", "list"]));
        let cgroups = run_ok(Command::new("find").args(["/sys/fs/cgroup", "-maxdepth", "2", "-name", "airadm-*"]));
        for node in nodes {
            assert!(!netns.contains(&format!("-{node}")), "{node}'s network namespace is left: {netns}");
            assert!(!cgroups.contains(&format!("-{node}")), "{node}'s cgroups are left: {cgroups}");
        }
    }
}
