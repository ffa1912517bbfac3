//! A real control plane from a node tree's static Pod manifests: etcd, kube-apiserver,
//! kube-controller-manager and kube-scheduler of the reference toolchain, run as host processes
//! (there is no kubelet yet) with exactly the manifests' commands and flags, their host paths
//! mapped into the tree, inside a network namespace of the test's own so that each control plane
//! has its ports and advertise address to itself and nothing leaves the machine.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A network namespace with loopback up and `address` on an interface of its own with the
/// default route; deleted on drop (which deletes its interfaces).
pub struct NetNs {
    name: String,
    /// The address the control plane advertises.
    pub address: String,
    /// Whether dropping this deletes the namespace (not for a handle given to a thread).
    owner: bool,
}

impl NetNs {
    /// Creates `airadm-PID-N` with `address`/24 on its `eth0`.
    pub fn new(address: &str) -> Self {
        let ns = Self::bare(address);
        // A veth pair inside the namespace, both ends up, holds the address and the default
        // route, as a node's uplink would: kubeadm picks its advertise address from that route.
        crate::run_ok(ns.command("ip").args(["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"]));
        crate::run_ok(ns.command("ip").args(["link", "set", "eth0-peer", "up"]));
        ns.uplink();
        ns
    }

    /// Two namespaces whose `eth0`s are the two ends of one veth pair, with `first`/24 and
    /// `second`/24 and the default route on them: two nodes of one network, and nothing else.
    pub fn pair(first: &str, second: &str) -> (Self, Self) {
        let (a, b) = (Self::bare(first), Self::bare(second));
        crate::run_ok(a.command("ip").args(["link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]));
        crate::run_ok(a.command("ip").args(["link", "set", "peer0", "netns", &b.name]));
        crate::run_ok(b.command("ip").args(["link", "set", "peer0", "name", "eth0"]));
        a.uplink();
        b.uplink();
        (a, b)
    }

    fn bare(address: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        crate::require("ip", "iproute2");
        let name = format!("airadm-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        crate::run_ok(Command::new("ip").args(["netns", "add", &name]));
        Self { name, address: address.to_owned(), owner: true }
    }

    /// Loopback and `eth0` up, the address on `eth0`, the default route through it.
    fn uplink(&self) {
        for args in [
            &["link", "set", "lo", "up"][..],
            &["link", "set", "eth0", "up"],
            &["addr", "add", &format!("{}/24", self.address), "dev", "eth0"],
            &["route", "add", "default", "dev", "eth0"],
        ] {
            crate::run_ok(self.command("ip").args(args));
        }
    }

    /// `program` to be run inside the namespace, with the host's mounts as they are (`ip netns
    /// exec` mounts a sysfs of its own, which hides the cgroup hierarchies a kubelet needs).
    pub fn enter(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.name)).arg(program);
        cmd
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// The control-plane components, in start order.
pub const COMPONENTS: &[&str] = &["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/// Running control-plane processes; killed on drop.
pub struct ControlPlane {
    processes: Vec<(String, Child)>,
    logs: PathBuf,
    /// The node tree the processes read (`ROOT/etc/kubernetes/…`).
    pub root: PathBuf,
}

impl ControlPlane {
    /// Starts every component whose manifest is in `ROOT/etc/kubernetes/manifests`, from `bin`,
    /// inside `ns`, logging to `ROOT/../NAME.log`s; waits until the API server is ready.
    pub fn start(ns: &NetNs, root: &Path, bin: &Path) -> Self {
        let mut cp = Self::spawn(ns, root, bin);
        cp.wait_ready(ns, bin, Duration::from_secs(180));
        cp
    }

    /// Plays a kubelet's static Pods for a node that is being joined: once `etcd.yaml` (the
    /// last manifest join writes) is in the tree, starts every component as
    /// [`ControlPlane::start`] does, without waiting for them. `None` if `stop` was set first.
    pub fn when_manifests(
        ns: &NetNs,
        root: &Path,
        bin: &Path,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<Option<Self>> {
        let ns = NetNs { name: ns.name.clone(), address: ns.address.clone(), owner: false };
        let (root, bin) = (root.to_owned(), bin.to_owned());
        std::thread::spawn(move || {
            let etcd = root.join("etc/kubernetes/manifests/etcd.yaml");
            while !etcd.exists() {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // The manifest is renamed into place whole; its siblings were written before.
            Some(Self::spawn(&ns, &root, &bin))
        })
    }

    fn spawn(ns: &NetNs, root: &Path, bin: &Path) -> Self {
        let logs = root.with_extension("logs");
        fs_err::create_dir_all(&logs).unwrap();
        let mut cp = Self { processes: Vec::new(), logs, root: root.to_owned() };
        for component in COMPONENTS {
            let manifest = root.join(format!("etc/kubernetes/manifests/{component}.yaml"));
            if !manifest.exists() {
                continue;
            }
            let text = fs_err::read_to_string(&manifest).unwrap();
            let (argv, dirs) = command_line(&text, root);
            for dir in dirs {
                fs_err::create_dir_all(&dir).unwrap();
            }
            let log = fs_err::File::create(cp.logs.join(format!("{component}.log"))).unwrap().into_parts().0;
            let mut cmd = ns.command(bin.join(&argv[0]));
            cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
            let child = cmd.spawn().unwrap_or_else(|e| panic!("starting {component}: {e}"));
            cp.processes.push(((*component).to_owned(), child));
        }
        cp
    }

    /// The last lines of every component's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (component, _) in &self.processes {
            let text = fs_err::read_to_string(self.logs.join(format!("{component}.log"))).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out += &format!("--- {component} (last 40 lines) ---\n{}\n", lines[lines.len().saturating_sub(40)..].join("\n"));
        }
        out
    }

    /// `kubectl` of `bin` in `ns` with the tree's super-admin.conf (admin.conf's group is bound
    /// only by init's own phases).
    pub fn kubectl(&self, ns: &NetNs, bin: &Path) -> Command {
        let mut cmd = ns.command(bin.join("kubectl"));
        cmd.arg("--kubeconfig").arg(self.root.join("etc/kubernetes/super-admin.conf"));
        cmd
    }

    fn wait_ready(&mut self, ns: &NetNs, bin: &Path, timeout: Duration) {
        let start = Instant::now();
        loop {
            let exited = self.processes.iter_mut().find_map(|(c, child)| Some((c.clone(), child.try_wait().ok()??)));
            if let Some((component, status)) = exited {
                panic!("{component} exited ({status}) before the API server was ready\n{}", self.logs());
            }
            let ready = self.kubectl(ns, bin).args(["get", "--raw", "/readyz"]).output().map(|o| o.status.success());
            if ready.unwrap_or(false) {
                return;
            }
            assert!(start.elapsed() < timeout, "the API server was not ready after {timeout:?}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // The API server first, etcd last, as a kubelet stopping static Pods would not care.
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        for (_, child) in &mut self.processes {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A static Pod manifest's command and arguments with every path below a mount replaced by the
/// path of its host directory in `root`, plus the host directories (`DirectoryOrCreate`) to make.
pub fn command_line(manifest: &str, root: &Path) -> (Vec<String>, Vec<PathBuf>) {
    let pod: serde_json::Value = serde_saphyr::from_str(manifest).unwrap();
    let volumes: Vec<(String, String, String)> = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let host = &v["hostPath"];
            (
                v["name"].as_str().unwrap().to_owned(),
                host["path"].as_str().unwrap_or("").to_owned(),
                host["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let container = &pod["spec"]["containers"][0];
    let mut mounts: Vec<(String, String)> = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let (_, host, _) = volumes.iter().find(|(name, _, _)| name == m["name"].as_str().unwrap())?;
            Some((m["mountPath"].as_str().unwrap().to_owned(), host.clone()))
        })
        .collect();
    // Longest mount first: `/etc/kubernetes/pki` before `/etc/kubernetes`.
    mounts.sort_by_key(|(mount, _)| std::cmp::Reverse(mount.len()));
    let in_root = |host: &str| root.join(host.trim_start_matches('/')).display().to_string();
    let map = |value: &str| -> String {
        for (mount, host) in &mounts {
            if let Some(rest) = value.strip_prefix(mount.as_str())
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{}{rest}", in_root(host));
            }
        }
        value.to_owned()
    };
    let words = container["command"].as_array().into_iter().flatten().chain(container["args"].as_array().into_iter().flatten());
    let argv = words
        .map(|w| {
            let w = w.as_str().unwrap();
            match w.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => format!("{flag}={}", map(value)),
                _ => w.to_owned(),
            }
        })
        .collect();
    let dirs = volumes.iter().filter(|(_, _, kind)| kind == "DirectoryOrCreate").map(|(_, host, _)| PathBuf::from(in_root(host))).collect();
    (argv, dirs)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn paths_below_mounts_move_into_the_root_and_other_words_stay() {
        let manifest = r#"
spec:
  containers:
  - command: [etcd, --data-dir=/var/lib/etcd, --cert-file=/etc/kubernetes/pki/etcd/server.crt, --name=cp-0, --listen-client-urls=https://127.0.0.1:2379]
    volumeMounts:
    - {mountPath: /var/lib/etcd, name: etcd-data}
    - {mountPath: /etc/kubernetes/pki/etcd, name: etcd-certs}
  volumes:
  - {hostPath: {path: /etc/kubernetes/pki/etcd, type: DirectoryOrCreate}, name: etcd-certs}
  - {hostPath: {path: /var/lib/etcd, type: DirectoryOrCreate}, name: etcd-data}
"#;
        let (argv, dirs) = super::command_line(manifest, Path::new("/r"));
        assert_eq!(
            argv,
            [
                "etcd",
                "--data-dir=/r/var/lib/etcd",
                "--cert-file=/r/etc/kubernetes/pki/etcd/server.crt",
                "--name=cp-0",
                "--listen-client-urls=https://127.0.0.1:2379"
            ]
        );
        assert_eq!(dirs, [Path::new("/r/etc/kubernetes/pki/etcd"), Path::new("/r/var/lib/etcd")]);
    }
}
