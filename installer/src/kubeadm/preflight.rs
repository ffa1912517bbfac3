//! `preflight`: kubeadm's checks for `init` (`preflight/checks.go`: `InitNodeChecks` and
//! `addCommonChecks`), with kubeadm's check names, messages, and split into errors and warnings;
//! `--ignore-preflight-errors=all|name,…` turns errors into warnings. The image pull check becomes
//! "the bundle's images are in the runtime" (over CRI, in the init flow). The checks are pure over
//! [`Probe`], the node's facts; [`HostProbe`] reads them from the node and stays thin.

use std::net::TcpListener;
use std::path::Path;

use super::config::{InitConfig, defaults};
use super::files::Root;

/// Whether a failed check stops init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Fatal unless ignored.
    Error,
    /// Printed, never fatal.
    Warning,
}

/// A failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// kubeadm's check name (`Port-6443`, `FileAvailable--etc-kubernetes-manifests-etcd.yaml`).
    pub name: String,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

/// The node facts the checks look at.
pub trait Probe {
    /// Effective user is root.
    fn is_root(&self) -> bool;
    /// Online CPUs.
    fn cpus(&self) -> usize;
    /// Total RAM in MB.
    fn memory_mb(&self) -> u64;
    /// Something listens on TCP `port`.
    fn port_in_use(&self, port: u16) -> bool;
    /// A node path exists.
    fn exists(&self, path: &str) -> bool;
    /// A node directory exists and has entries (`Err`: it could not be listed, and why).
    fn dir_non_empty(&self, path: &str) -> Result<bool, String>;
    /// A kernel file's content (`/proc/sys/…`).
    fn read_proc(&self, path: &str) -> Option<String>;
    /// A command is on PATH.
    fn in_path(&self, command: &str) -> bool;
    /// Swap is on.
    fn swap_on(&self) -> bool;
    /// `kubelet --version`, or why not.
    fn kubelet_version(&self) -> Result<String, String>;
    /// firewalld is active.
    fn firewalld_active(&self) -> bool;
    /// The cgroup controllers: `(true, v2 controllers)` on cgroup v2, `(false, enabled v1 ones)`.
    fn cgroups(&self) -> (bool, Vec<String>);
}

fn file_name(path: &str) -> String {
    path.replace('/', "-")
}

/// Runs kubeadm's init checks against `probe`.
pub fn init_checks(cfg: &InitConfig, probe: &dyn Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    if !probe.is_root() {
        out.push(Finding { name: "IsPrivilegedUser".into(), severity: Severity::Error, message: "user is not running as root".into() });
    }
    out.extend(control_plane_checks(cfg, probe));
    out.extend(common_checks(&cfg.version, families(cfg), probe));
    out.extend(etcd_checks(cfg, probe, false));
    out
}

/// kubeadm's `InitNodeChecks(…, isSecondaryControlPlane: true, downloadCerts)` for a node joining
/// as another control plane (`join_checks` ran the common ones): the control plane's own checks,
/// then etcd's; the external etcd's client files only when they are not downloaded.
pub fn control_plane_join_checks(cfg: &InitConfig, probe: &dyn Probe, download_certs: bool) -> Vec<Finding> {
    let mut out = control_plane_checks(cfg, probe);
    out.extend(etcd_checks(cfg, probe, download_certs));
    out
}

/// The resources, ports and manifest files of a control-plane node.
fn control_plane_checks(cfg: &InitConfig, probe: &dyn Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fail = |name: String, severity: Severity, message: String| out.push(Finding { name, severity, message });
    use Severity::{Error, Warning};
    if probe.cpus() < 2 {
        fail("NumCPU".into(), Error, format!("the number of available CPUs {} is less than the required 2", probe.cpus()));
    }
    if probe.memory_mb() < 1700 {
        fail("Mem".into(), Error, format!("the system RAM ({} MB) is less than the minimum 1700 MB", probe.memory_mb()));
    }
    if probe.firewalld_active() {
        fail(
            "Firewalld".into(),
            Warning,
            format!(
                "firewalld is active, please ensure ports [{} 10250] are open or your cluster may not function correctly",
                cfg.bind_port
            ),
        );
    }
    let mut ports = vec![cfg.bind_port, 10259, 10257];
    let manifests =
        ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"].map(|c| format!("{}/{c}.yaml", defaults::MANIFESTS_DIR));
    for port in ports.drain(..) {
        if probe.port_in_use(port) {
            fail(format!("Port-{port}"), Error, format!("Port {port} is in use"));
        }
    }
    for path in &manifests {
        if probe.exists(path) {
            fail(format!("FileAvailable-{}", file_name(path)), Error, format!("{path} already exists"));
        }
    }
    out
}

/// The local etcd's ports and data dir, or the external etcd's client files (unless
/// `downloaded`).
fn etcd_checks(cfg: &InitConfig, probe: &dyn Probe, downloaded: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fail = |name: String, severity: Severity, message: String| out.push(Finding { name, severity, message });
    use Severity::Error;
    if let Some(local) = cfg.local_etcd() {
        for port in [2379, 2380] {
            if probe.port_in_use(port) {
                fail(format!("Port-{port}"), Error, format!("Port {port} is in use"));
            }
        }
        let data_dir = local.data_dir.as_deref().unwrap_or(defaults::ETCD_DATA_DIR);
        // kubeadm v1.31: checks.go DirAvailableCheck ("unable to check if %s is empty").
        match probe.dir_non_empty(data_dir) {
            Ok(false) => {}
            Ok(true) => fail(format!("DirAvailable-{}", file_name(data_dir)), Error, format!("{data_dir} is not empty")),
            Err(e) => fail(format!("DirAvailable-{}", file_name(data_dir)), Error, format!("unable to check if {data_dir} is empty: {e}")),
        }
    } else if let Some(external) = cfg.etcd.external.as_ref().filter(|_| !downloaded) {
        for file in [&external.ca_file, &external.cert_file, &external.key_file].into_iter().flatten() {
            if !probe.exists(file) {
                fail("ExternalEtcdClientCertificates".into(), Error, format!("{file} doesn't exist"));
            }
        }
    }
    out
}

/// kubeadm's `addCommonChecks` and the system checks both `init` and `join` run: swap, the
/// commands the kubelet needs, its version against the control plane's, cgroups, its port, IP
/// forwarding for the families in use (IPv4, IPv6).
pub fn common_checks(version: &super::Version, families: (bool, bool), probe: &dyn Probe) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut fail = |name: String, severity: Severity, message: String| out.push(Finding { name, severity, message });
    use Severity::{Error, Warning};
    if probe.swap_on() {
        fail(
            "Swap".into(),
            Warning,
            "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap on the node".into(),
        );
    }
    let mut mandatory = vec!["ip", "iptables", "mount", "nsenter"];
    if !version.at_least(32) {
        mandatory.insert(0, "conntrack");
    }
    for command in mandatory {
        if !probe.in_path(command) {
            fail(format!("FileExisting-{command}"), Error, format!("{command} not found in system path"));
        }
    }
    for command in ["ebtables", "ethtool", "socat", "tc", "touch"] {
        if !probe.in_path(command) {
            fail(format!("FileExisting-{command}"), Warning, format!("{command} not found in system path"));
        }
    }
    match probe.kubelet_version() {
        Ok(kubelet) => {
            let minor = kubelet.split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
            match minor {
                Some(m) if m > version.minor => fail(
                    "KubeletVersion".into(),
                    Error,
                    format!(
                        "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: \"{kubelet}\" Control plane version: \"{}\"",
                        version
                    ),
                ),
                Some(m) if m + 3 < version.minor => fail(
                    "KubeletVersion".into(),
                    Error,
                    format!("Kubelet version \"{kubelet}\" is lower than kubeadm can support. Please upgrade kubelet"),
                ),
                _ => {}
            }
        }
        Err(why) => fail("KubeletVersion".into(), Error, format!("couldn't get kubelet version: {why}")),
    }
    // SystemVerification: the cgroup controllers the kubelet needs (kubeadm's system validators).
    let (v2, controllers) = probe.cgroups();
    let required: &[&str] = if v2 { &["cpu", "cpuset", "memory", "pids"] } else { &["cpu", "cpuacct", "cpuset", "memory", "pids"] };
    let missing: Vec<&str> = required.iter().copied().filter(|c| !controllers.iter().any(|have| have == c)).collect();
    if !missing.is_empty() {
        fail("SystemVerification".into(), Error, format!("missing required cgroups: {}", missing.join(" ")));
    }
    if !v2 {
        fail("SystemVerification".into(), Warning, "cgroups v1 support is in maintenance mode, please migrate to cgroups v2".into());
    }
    if probe.port_in_use(10250) {
        fail("Port-10250".into(), Error, "Port 10250 is in use".into());
    }
    if families.0 && probe.read_proc("/proc/sys/net/ipv4/ip_forward").is_some_and(|v| v.trim() != "1") {
        fail("FileContent--proc-sys-net-ipv4-ip_forward".into(), Error, "/proc/sys/net/ipv4/ip_forward contents are not set to 1".into());
    }
    if families.1 && probe.read_proc("/proc/sys/net/ipv6/conf/default/forwarding").is_some_and(|v| v.trim() != "1") {
        fail(
            "FileContent--proc-sys-net-ipv6-conf-default-forwarding".into(),
            Error,
            "/proc/sys/net/ipv6/conf/default/forwarding contents are not set to 1".into(),
        );
    }
    // Not one of kubeadm's checks any more, but bridged pod traffic bypasses kube-proxy's
    // iptables rules without it: a warning when the bridge module is loaded and it is off.
    if probe.read_proc("/proc/sys/net/bridge/bridge-nf-call-iptables").is_some_and(|v| v.trim() != "1") {
        fail(
            "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables".into(),
            Warning,
            "/proc/sys/net/bridge/bridge-nf-call-iptables contents are not set to 1".into(),
        );
    }
    out
}

/// Whether IPv4 and IPv6 are in use (advertise address, service and pod CIDRs).
fn families(cfg: &InitConfig) -> (bool, bool) {
    let cidrs = cfg.service_subnet.split(',').chain(cfg.pod_subnet.as_deref().unwrap_or_default().split(','));
    let mut v6 = cfg.is_ipv6();
    let mut v4 = !cfg.is_ipv6();
    for cidr in cidrs.filter(|c| !c.trim().is_empty()) {
        if cidr.contains(':') {
            v6 = true;
        } else {
            v4 = true;
        }
    }
    (v4, v6)
}

/// Preflight found errors that were not ignored.
#[derive(Debug, thiserror::Error)]
#[error(
    "[preflight] Some fatal errors occurred:\n{errors}[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`"
)]
pub struct PreflightError {
    /// `\t[ERROR Name]: message\n` lines.
    pub errors: String,
}

/// Splits findings as kubeadm's `RunChecks` does: ignored errors (by lower-cased name, or `all`)
/// become warnings. Returns the warning lines, or the error listing every fatal finding.
pub fn evaluate(findings: &[Finding], ignore: &[String]) -> Result<Vec<String>, PreflightError> {
    let ignored = |name: &str| ignore.iter().any(|i| i == "all" || *i == name.to_lowercase());
    let mut warnings = Vec::new();
    let mut errors = String::new();
    for f in findings {
        if f.severity == Severity::Warning || ignored(&f.name) {
            warnings.push(format!("\t[WARNING {}]: {}", f.name, f.message));
        } else {
            errors.push_str(&format!("\t[ERROR {}]: {}\n", f.name, f.message));
        }
    }
    if errors.is_empty() { Ok(warnings) } else { Err(PreflightError { errors }) }
}

/// The real node (files under `root`, kernel and processes of this machine).
pub struct HostProbe<'a> {
    /// Where node paths are.
    pub root: &'a Root,
    /// Where `binaries` installs the kubelet (a node path), looked at before the PATH.
    pub bin_dir: &'a str,
}

impl Probe for HostProbe<'_> {
    fn is_root(&self) -> bool {
        fs_err::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)).map(|uid| uid == "0"))
            .unwrap_or(false)
    }

    fn cpus(&self) -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    fn memory_mb(&self) -> u64 {
        let meminfo = fs_err::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb = meminfo.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
        kb.unwrap_or(0) / 1024
    }

    fn port_in_use(&self, port: u16) -> bool {
        TcpListener::bind(("0.0.0.0", port)).is_err()
    }

    fn exists(&self, path: &str) -> bool {
        self.root.exists(path)
    }

    fn dir_non_empty(&self, path: &str) -> Result<bool, String> {
        self.root.dir_has_entries(path).map_err(|e| e.to_string())
    }

    fn read_proc(&self, path: &str) -> Option<String> {
        fs_err::read_to_string(path).ok()
    }

    fn in_path(&self, command: &str) -> bool {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|d| d.join(command).is_file())
    }

    fn swap_on(&self) -> bool {
        fs_err::read_to_string("/proc/swaps").is_ok_and(|s| s.lines().count() > 1)
    }

    fn kubelet_version(&self) -> Result<String, String> {
        // The kubelet `binaries` installed, else the one on the PATH.
        let installed = self.root.path(format!("{}/kubelet", self.bin_dir.trim_end_matches('/'))).ok().filter(|p| p.is_file());
        let program = installed.unwrap_or_else(|| "kubelet".into());
        let out = std::process::Command::new(&program).arg("--version").output().map_err(|e| format!("{}: {e}", program.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        // "Kubernetes v1.31.2"
        text.split_whitespace().nth(1).map(str::to_owned).ok_or_else(|| format!("unexpected `kubelet --version` output: {text}"))
    }

    fn firewalld_active(&self) -> bool {
        Path::new("/run/firewalld").exists() && Path::new("/run/systemd/system").exists()
    }

    fn cgroups(&self) -> (bool, Vec<String>) {
        if let Ok(v2) = fs_err::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
            return (true, v2.split_whitespace().map(str::to_owned).collect());
        }
        // /proc/cgroups: `name hierarchy num_cgroups enabled`.
        let v1 = fs_err::read_to_string("/proc/cgroups").unwrap_or_default();
        let enabled = v1
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(3) == Some(&"1")).then(|| f[0].to_owned())
            })
            .collect();
        (false, enabled)
    }
}

mod join;
pub use join::{join_checks, shared_certificates_exist};

#[cfg(test)]
mod tests;
