//! Nodes of a real cluster on one machine: each is a network namespace on a private L2 network
//! (a bridge in a hub namespace of the test's own: no traffic leaves the machine), a mount and
//! UTS namespace in which the directories a node's Kubernetes uses are private directories under
//! the test's temp dir, its own containerd (the reference toolchain's v2, with Debian's runc) and
//! a kubelet the harness runs as systemd would run kubeadm's unit ([`crate::kubelet`]).
//!
//! The mount namespace is held by a `sleep` that first mounts an overlay on `/etc`, `/var`,
//! `/opt`, `/usr/local` and `/run` (the host's files show through, writes stay the node's) and
//! then binds the node's own directories on [`PRIVATE_DIRS`]. Every process of the node is
//! entered into those namespaces; dropping the node kills them all, so its mounts go with the
//! namespace, then deletes its network namespace (and so its veth) and its cgroups.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{require, run_ok};

/// The directories each node has to itself (kubeadm's, the kubelet's, containerd's, the CNI's).
pub const PRIVATE_DIRS: &[&str] = &[
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/var/lib/etcd",
    "/etc/cni/net.d",
    "/opt/cni/bin",
    "/usr/local/bin",
    "/run/containerd",
    "/var/lib/containerd",
    "/etc/containerd",
    "/var/lib/cni",
    "/var/log/pods",
    "/var/log/containers",
];
/// The trees overlaid so that mount points and stray files stay inside the node.
const OVERLAID: &[&str] = &["/etc", "/var", "/opt", "/usr/local", "/run"];
/// The nodes' network, a /24 of a private range (nothing else on the machine sees it).
pub const NETWORK_PREFIX: &str = "10.209.0";

/// A private L2 network: the bridge `br0` in a hub namespace; deleted on drop.
pub struct Network {
    /// `airadm-PID-N`: the hub is `PREFIX-hub`, a node's namespace `PREFIX-NAME`.
    prefix: String,
    hub: String,
}

impl Network {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        require("ip", "iproute2");
        let prefix = format!("airadm-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let hub = format!("{prefix}-hub");
        run_ok(Command::new("ip").args(["netns", "add", &hub]));
        for args in [&["link", "add", "br0", "type", "bridge"][..], &["link", "set", "br0", "up"], &["link", "set", "lo", "up"]] {
            run_ok(Command::new("ip").args(["-n", &hub]).args(args));
        }
        Self { prefix, hub }
    }
}

impl Default for Network {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.hub]).status();
    }
}

/// One node; everything of it is gone when dropped.
pub struct Node {
    pub name: String,
    /// Its address on the network (`eth0`, the default route).
    pub address: String,
    netns: String,
    /// The node's directory: `fs/` holds the private directories, `log/` the logs.
    pub dir: PathBuf,
    holder: Child,
    containerd: Option<Child>,
    pub(crate) kubelet: Option<crate::kubelet::Harness>,
}

impl Node {
    /// Node `name` at `NETWORK_PREFIX.host` on `network`, its tree under `dir` (made here).
    pub fn start(network: &Network, name: &str, host: u8, dir: &Path) -> Self {
        let address = format!("{NETWORK_PREFIX}.{host}");
        let netns = format!("{}-{name}", network.prefix);
        run_ok(Command::new("ip").args(["netns", "add", &netns]));
        let peer = format!("v-{name}");
        run_ok(Command::new("ip").args([
            "-n",
            &network.hub,
            "link",
            "add",
            &peer,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ]));
        run_ok(Command::new("ip").args(["-n", &network.hub, "link", "set", &peer, "master", "br0", "up"]));
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "eth0", "up"],
            &["addr", "add", &format!("{address}/24"), "dev", "eth0"],
            &["route", "add", "default", "dev", "eth0"],
        ] {
            run_ok(Command::new("ip").args(["-n", &netns]).args(args));
        }
        // What kubeadm's preflight asks of a node's network (an admin's sysctl.d).
        for sysctl in ["net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1", "net.bridge.bridge-nf-call-ip6tables=1"] {
            run_ok(Command::new("ip").args(["netns", "exec", &netns, "sysctl", "-qw", sysctl]));
        }
        fs_err::create_dir_all(dir.join("log")).unwrap();
        let holder = Self::hold(&netns, name, dir);
        let node = Self { name: name.into(), address, netns, dir: dir.to_owned(), holder, containerd: None, kubelet: None };
        node.write("/etc/hostname", &format!("{name}\n"));
        node.write("/etc/hosts", &format!("127.0.0.1\tlocalhost\n{}\t{name}\n", node.address));
        // No resolver answers on the network: pods (and CoreDNS's forward) get one that is silent.
        node.write("/etc/resolv.conf", &format!("nameserver {NETWORK_PREFIX}.254\n"));
        node.cgroups(true);
        node
    }

    /// The holder of the node's mount and UTS namespaces, once its mounts are made.
    fn hold(netns: &str, name: &str, dir: &Path) -> Child {
        let mut script = String::from("set -e; mount --make-rprivate /\n");
        for top in OVERLAID {
            let key = top.trim_start_matches('/').replace('/', "-");
            let (upper, work) = (dir.join(format!("overlay/{key}/upper")), dir.join(format!("overlay/{key}/work")));
            fs_err::create_dir_all(&upper).unwrap();
            fs_err::create_dir_all(&work).unwrap();
            script +=
                &format!("mount -t overlay overlay -o lowerdir={top},upperdir={},workdir={} {top}\n", upper.display(), work.display());
        }
        for private in PRIVATE_DIRS {
            let own = dir.join("fs").join(private.trim_start_matches('/'));
            fs_err::create_dir_all(&own).unwrap();
            script += &format!("mkdir -p {private}; mount --bind {} {private}\n", own.display());
        }
        script += &format!("hostname {name}; touch {}; exec sleep 2147483647\n", dir.join("ready").display());
        let log = fs_err::File::create(dir.join("log/holder.log")).unwrap().into_parts().0;
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{netns}"))
            .args(["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the node's namespace holder");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !dir.join("ready").exists() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "node {name}'s mounts failed ({status}): {}",
                    fs_err::read_to_string(dir.join("log/holder.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "node {name}'s namespace holder did not get ready");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// `program` run as a process of the node: in its network, mount and UTS namespaces.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        enter(self.holder.id(), program)
    }

    /// [`Node::command`] with `dir` as its working directory (entering a mount namespace
    /// otherwise starts at its root).
    pub fn command_in(&self, dir: &Path, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.holder.id().to_string(), "-m", "-u", "-n"]).arg(format!("--wd={}", dir.display())).arg("--").arg(program);
        cmd
    }

    pub(crate) fn holder_pid(&self) -> u32 {
        self.holder.id()
    }

    /// The host path of node path `path` (one of [`PRIVATE_DIRS`] or a path under one).
    pub fn host_path(&self, path: &str) -> PathBuf {
        let private = PRIVATE_DIRS.iter().find(|d| path.strip_prefix(**d).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')));
        match private {
            Some(_) => self.dir.join("fs").join(path.trim_start_matches('/')),
            None => panic!("{path} is not in a node's private directories"),
        }
    }

    /// Writes node file `path` (through the node's own view of its filesystem).
    pub fn write(&self, path: &str, text: &str) {
        let mut child = self
            .command("sh")
            .args(["-c", &format!("mkdir -p \"$(dirname {path})\" && cat > {path}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "writing {path} on node {}", self.name);
    }

    /// The cgroup the node's kubelet runs its pods under (`--cgroup-root`), in every v1 hierarchy.
    pub fn cgroup_root(&self) -> String {
        format!("/{}", self.netns)
    }

    /// Makes (`true`) or removes (deepest first) the node's cgroup in every hierarchy. A new
    /// cpuset cgroup gets its parent's CPUs and memory nodes, as the kubelet expects.
    fn cgroups(&self, make: bool) {
        let root = Path::new("/sys/fs/cgroup");
        for hierarchy in fs_err::read_dir(root).unwrap().filter_map(Result::ok).map(|e| e.path()) {
            // The cgroup2 hierarchy beside v1 ("unified") gets the node's cgroups from runc; it is
            // not one the kubelet needs made.
            if !hierarchy.join("cgroup.procs").exists() || (make && hierarchy.ends_with("unified")) {
                continue;
            }
            let own = hierarchy.join(self.cgroup_root().trim_start_matches('/'));
            if make {
                fs_err::create_dir_all(&own).unwrap();
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    if let Ok(value) = fs_err::read_to_string(hierarchy.join(file)) {
                        fs_err::write(own.join(file), value.trim()).unwrap();
                    }
                }
            } else if own.exists() {
                let _ = Command::new("find").arg(&own).args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]).status();
            }
        }
    }

    /// Starts containerd with `sandbox_image` pinned, from `bin` (containerd,
    /// containerd-shim-runc-v2, ctr; copied to the node's /usr/local/bin as an admin installs
    /// them), and waits for its socket.
    pub fn start_containerd(&mut self, bin: &Path, sandbox_image: &str) {
        require("runc", "runc");
        for name in ["containerd", "containerd-shim-runc-v2", "ctr"] {
            fs_err::copy(bin.join(name), self.host_path(&format!("/usr/local/bin/{name}"))).unwrap();
        }
        // restrict_oom_score_adj: this machine's root lacks CAP_SYS_RESOURCE, so a sandbox's
        // -998 would be refused (runc: "failed to update /proc/self/oom_score_adj").
        self.write(
            "/etc/containerd/config.toml",
            &format!(
                "version = 3\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = '{sandbox_image}'\n\
                 [plugins.'io.containerd.cri.v1.runtime']\n  restrict_oom_score_adj = true\n"
            ),
        );
        let log = fs_err::File::create(self.dir.join("log/containerd.log")).unwrap().into_parts().0;
        let child = self
            .command("/usr/local/bin/containerd")
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.containerd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.command("ctr").arg("version").output().is_ok_and(|o| o.status.success()) {
            assert!(Instant::now() < deadline, "containerd of {} did not start: {}", self.name, self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A route on this node to `cidr` through `via` (another node's pod CIDR through it).
    pub fn route(&self, cidr: &str, via: &str) {
        run_ok(Command::new("ip").args(["-n", &self.netns, "route", "replace", cidr, "via", via]));
    }

    /// The network interfaces of the node, by name.
    pub fn links(&self) -> Vec<String> {
        let out = run_ok(Command::new("ip").args(["-n", &self.netns, "-o", "link", "show"]));
        out.lines().filter_map(|l| l.split(": ").nth(1)).map(|n| n.split('@').next().unwrap_or(n).to_owned()).collect()
    }

    /// The node's logs for a failure message: containerd's and the kubelet's last lines, and
    /// those of each static or other Pod's containers (`/var/log/pods`).
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["kubelet.log", "containerd.log"] {
            text += &format!("--- {} {name} ---\n{}\n", self.name, tail(&self.dir.join("log").join(name), 40));
        }
        for log in crate::walk(&self.host_path("/var/log/pods")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
            text += &format!("--- {} {} ---\n{}\n", self.name, log.display(), tail(&log, 15));
        }
        text
    }

    /// The processes in the node's cgroups (its pods' containers), from the pids hierarchy.
    fn cgroup_processes(&self) -> Vec<u32> {
        let own = Path::new("/sys/fs/cgroup/pids").join(self.cgroup_root().trim_start_matches('/'));
        crate::walk(&own)
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "cgroup.procs"))
            .flat_map(|p| fs_err::read_to_string(p).unwrap_or_default().lines().filter_map(|l| l.parse().ok()).collect::<Vec<u32>>())
            .collect()
    }

    /// The processes in the node's mount namespace (the holder among them).
    fn processes(&self) -> Vec<u32> {
        let ns = |pid: &str| fs_err::metadata(format!("/proc/{pid}/ns/mnt")).ok().map(|m| m.ino());
        let Some(own) = ns(&self.holder.id().to_string()) else { return Vec::new() };
        let pids = fs_err::read_dir("/proc").map(|d| d.filter_map(Result::ok).collect::<Vec<_>>()).unwrap_or_default();
        pids.iter()
            .filter_map(|e| e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()))
            .filter(|pid| ns(&pid.to_string()) == Some(own))
            .collect()
    }
}

/// `program` run in the namespaces of the node whose holder is `holder`.
pub(crate) fn enter(holder: u32, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &holder.to_string(), "-m", "-u", "-n", "--"]).arg(program);
    cmd
}

/// The last `lines` lines of a file (or why there are none).
pub fn tail(path: &Path, lines: usize) -> String {
    match fs_err::read_to_string(path) {
        Ok(text) => text.lines().rev().take(lines).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"),
        Err(e) => format!("({}: {e})", path.display()),
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kubelet.take();
        if let Some(mut containerd) = self.containerd.take() {
            let _ = containerd.kill();
            let _ = containerd.wait();
        }
        // Shims and anything else left: every process of the mount namespace, the holder last;
        // containers (each in a mount namespace of its own) by the node's cgroups.
        let holder = self.holder.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left: Vec<u32> = self.processes().into_iter().chain(self.cgroup_processes()).filter(|p| *p != holder).collect();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
        // Cgroups empty a moment after their last process is gone.
        let deadline = Instant::now() + Duration::from_secs(10);
        while {
            self.cgroups(false);
            Path::new("/sys/fs/cgroup/memory").join(self.cgroup_root().trim_start_matches('/')).exists() && Instant::now() < deadline
        } {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
