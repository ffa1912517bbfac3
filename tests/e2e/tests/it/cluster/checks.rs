//! The cluster scenario's steps past init and airadm's joins: the kubeadm-joined node, routes,
//! readiness, etcd, workloads, reset, and the host as it was.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::cluster::{self, USER_CONFLIST, kubectl};
use testkit::node::{Node, PRIVATE_DIRS};
use testkit::{run_ok, workspace_bin};

use super::setup::{Bundle, WEB_IMAGE, WEB_PAGE};

/// The fourth node, kubeadm's way (`testkit::cluster::install_by_hand`: the bundle extracted,
/// its images imported with `ctr`, binaries and unit by hand), then real `kubeadm join` with the
/// printed worker command's discovery arguments.
pub fn kubeadm_join(node: &Node, bundle: &Bundle, dir: &Path, worker: &[String]) {
    cluster::install_by_hand(node, &bundle.file, &dir.join("kubeadm-way"));
    let discovery: Vec<&String> = worker[2..].iter().take_while(|w| *w != "--bundle").collect();
    let out = run_ok(node.command("/usr/local/bin/kubeadm").arg("join").args(discovery));
    assert!(out.contains("This node has joined the cluster"), "{out}");
}

/// Once every Node has its pod CIDR, the routes between them; the kubeadm-joined node, which
/// has no airadm, gets its user's own bridge network.
pub fn route_pod_cidrs(nodes: &[Node], bin: &Path) {
    let cidrs = cluster::pod_cidrs(&nodes[0], bin, nodes.len(), Duration::from_secs(120));
    cluster::route_pod_cidrs(nodes, &cidrs);
    let (_, own) = cidrs.iter().find(|(n, _)| *n == nodes[3].name).unwrap();
    nodes[3].write(USER_CONFLIST, &cluster::user_network(own));
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
    assert!(
        members.lines().all(|l| l.contains(", started, ") && l.ends_with(", false")),
        "a member is a learner or not started: {members}"
    );
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
    // What the checks go through: CoreDNS's pods, and kube-proxy's rules on every node.
    for what in ["deployment/coredns", "daemonset/kube-proxy"] {
        run_ok(kubectl(cp, bin, &["-n", "kube-system", "rollout", "status", what, "--timeout=180s"]));
    }
    let exec = |pod: &str, command: &[&str]| {
        let mut args = vec!["exec", pod, "--", "/bin/busybox"];
        args.extend_from_slice(command);
        run_ok(kubectl(cp, bin, &args))
    };
    // CoreDNS answers for the Service, and the short name a workload writes resolves through the
    // pod's search list (busybox's nslookup asks for a name as given, its wget through libc's
    // resolver); the API server answers on its service IP (kube-proxy's rules) either way.
    let dns = exec("deploy/web", &["nslookup", "kubernetes.default.svc.cluster.local"]);
    assert!(dns.contains("10.96.0.1"), "CoreDNS did not resolve kubernetes.default.svc.cluster.local: {dns}");
    for url in ["https://10.96.0.1/version", "https://kubernetes.default/version"] {
        let version = exec("deploy/web", &["wget", "-qO-", "--no-check-certificate", url]);
        assert!(version.contains(&format!("\"gitVersion\": \"{}\"", super::VERSION)), "the API server at {url}: {version}");
    }
    let ip = run_ok(kubectl(cp, bin, &["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"]));
    let page = exec("client", &["wget", "-qO-", &format!("http://{}:8080/", ip.trim())]);
    assert_eq!(page, WEB_PAGE, "node-1's pod reaching node-2's by pod IP");
    // Every rule kube-proxy wrote took, the ones the checks above did not go through too (the
    // `statistic` match of a Service with two endpoints needs a library of its own).
    let proxies = run_ok(kubectl(cp, bin, &["-n", "kube-system", "logs", "-l", "k8s-app=kube-proxy", "--prefix", "--tail=-1"]));
    assert!(!proxies.contains("Failed to execute iptables-restore"), "kube-proxy's rules failed on a node:\n{proxies}");
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
        let crictl = |what: &str| {
            run_ok(node.command(bin.join("crictl")).args(["--runtime-endpoint", "unix:///run/containerd/containerd.sock", what, "-q"]))
        };
        assert_eq!(crictl("pods").trim(), "", "pods left on {}", node.name);
        assert_eq!(crictl("ps").trim(), "", "containers left on {}", node.name);
        for private in ["/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/etc/cni/net.d", "/var/lib/cni"] {
            let left: Vec<_> = testkit::walk(&node.host_path(private)).into_iter().filter(|p| !p.is_dir()).collect();
            assert!(left.is_empty(), "{} left in {private} on {}: {left:?}", left.len(), node.name);
        }
        let links = node.links();
        assert_eq!(links, ["lo", "eth0"], "interfaces left on {}", node.name);
    }
}

/// Whether the host path `path` is there. containerd's shims put their sockets in
/// `/run/containerd/s` whatever containerd's state dir, so the other tests' containerds, which run
/// pods on the host, may make that one: only something else in `/run/containerd` counts.
fn present(path: &str) -> bool {
    if path == "/run/containerd" {
        return fs_err::read_dir(path).is_ok_and(|dir| dir.flatten().any(|e| e.file_name() != "s"));
    }
    Path::new(path).exists()
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
        let host_paths = PRIVATE_DIRS
            .iter()
            .chain(&["/etc/systemd/system/kubelet.service", "/etc/default/kubelet"])
            .map(|p| (p.to_string(), present(p)))
            .collect();
        Self { links, host_paths }
    }

    /// The same interfaces and host paths as `before`, nothing of the nodes in `dir` mounted, and
    /// no network namespace or cgroup named as theirs (`nodes`: each node's namespace name, which
    /// is also its cgroups').
    pub fn assert_same(&self, before: &Self, dir: &Path, nodes: &[String]) {
        assert_eq!(self, before, "the host changed");
        let mounts = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = dir.display().to_string();
        assert!(!mounts.contains(&dir), "mounts of the nodes are left on the host: {mounts}");
        let netns = run_ok(Command::new("ip").args(["netns", "list"]));
        let cgroups = run_ok(Command::new("find").args(["/sys/fs/cgroup", "-maxdepth", "2", "-name", "airadm-*"]));
        for node in nodes {
            assert!(!netns.lines().any(|l| l.split_whitespace().next() == Some(node)), "{node}'s network namespace is left: {netns}");
            assert!(!cgroups.lines().any(|l| l.ends_with(&format!("/{node}"))), "{node}'s cgroups are left: {cgroups}");
        }
    }
}
