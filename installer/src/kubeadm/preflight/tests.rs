use super::*;
use crate::kubeadm::config::{ComponentImages, HostFacts, InitFlags, Version, parse_documents, resolve};

#[derive(Default)]
struct Fake {
    non_root: bool,
    cpus: usize,
    ports: Vec<u16>,
    files: Vec<&'static str>,
    missing: Vec<&'static str>,
    ip_forward: &'static str,
    swap: bool,
    kubelet: Option<&'static str>,
    cgroups_v1: bool,
    bridge_off: bool,
}

impl Probe for Fake {
    fn is_root(&self) -> bool {
        !self.non_root
    }
    fn cpus(&self) -> usize {
        self.cpus.max(1)
    }
    fn memory_mb(&self) -> u64 {
        4096
    }
    fn port_in_use(&self, port: u16) -> bool {
        self.ports.contains(&port)
    }
    fn exists(&self, path: &str) -> bool {
        self.files.contains(&path)
    }
    fn dir_non_empty(&self, path: &str) -> Result<bool, String> {
        Ok(self.files.iter().any(|f| f.starts_with(&format!("{path}/"))))
    }
    fn read_proc(&self, path: &str) -> Option<String> {
        if path.contains("bridge") {
            return Some(if self.bridge_off { "0\n".into() } else { "1\n".into() });
        }
        Some(if self.ip_forward.is_empty() { "1\n".into() } else { self.ip_forward.into() })
    }
    fn in_path(&self, command: &str) -> bool {
        !self.missing.contains(&command)
    }
    fn swap_on(&self) -> bool {
        self.swap
    }
    fn kubelet_version(&self) -> Result<String, String> {
        self.kubelet.map(str::to_owned).ok_or_else(|| "exec: \"kubelet\": executable file not found in $PATH".into())
    }
    fn firewalld_active(&self) -> bool {
        false
    }
    fn cgroups(&self) -> (bool, Vec<String>) {
        if self.cgroups_v1 {
            (false, ["cpu", "cpuacct", "memory", "pids"].map(String::from).to_vec())
        } else {
            (true, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"].map(String::from).to_vec())
        }
    }
}

fn cfg(version: &str) -> InitConfig {
    let host = HostFacts { hostname: "node".into(), default_address: Some("10.0.0.1".parse().unwrap()), cri_socket: None };
    resolve(
        parse_documents("", "k.yaml").unwrap(),
        &InitFlags::default(),
        &host,
        &Version::parse(version).unwrap(),
        ComponentImages::default(),
    )
    .unwrap()
}

fn names(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn a_ready_node_passes() {
    let fake = Fake { cpus: 2, kubelet: Some("v1.31.2"), ..Default::default() };
    assert_eq!(init_checks(&cfg("v1.31.2"), &fake), vec![]);
}

#[test]
fn each_problem_is_named_as_kubeadm_names_it() {
    let fake = Fake {
        non_root: true,
        cpus: 1,
        ports: vec![6443, 2379, 10250],
        files: vec!["/etc/kubernetes/manifests/kube-apiserver.yaml", "/var/lib/etcd/member"],
        missing: vec!["conntrack", "socat"],
        ip_forward: "0\n",
        swap: true,
        kubelet: Some("v1.32.0"),
        cgroups_v1: true,
        bridge_off: true,
    };
    let findings = init_checks(&cfg("v1.31.2"), &fake);
    assert_eq!(
        names(&findings),
        [
            "IsPrivilegedUser",
            "NumCPU",
            "Port-6443",
            "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
            "Swap",
            "FileExisting-conntrack",
            "FileExisting-socat",
            "KubeletVersion",
            "SystemVerification",
            "SystemVerification",
            "Port-10250",
            "FileContent--proc-sys-net-ipv4-ip_forward",
            "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
            "Port-2379",
            "DirAvailable--var-lib-etcd",
        ]
    );
    let err = evaluate(&findings, &[]).unwrap_err().to_string();
    assert!(err.starts_with("[preflight] Some fatal errors occurred:\n\t[ERROR IsPrivilegedUser]: user is not running as root\n"), "{err}");
    assert!(err.contains("\t[ERROR NumCPU]: the number of available CPUs 1 is less than the required 2\n"), "{err}");
    assert!(err.contains("\t[ERROR SystemVerification]: missing required cgroups: cpuset\n"), "{err}");
    assert!(!err.contains("Swap") && !err.contains("socat") && !err.contains("bridge"), "warnings are not errors: {err}");
    // conntrack is no longer required from v1.32.
    assert!(!names(&init_checks(&cfg("v1.32.0"), &fake)).contains(&"FileExisting-conntrack"));
}

#[test]
fn ignored_errors_become_warnings() {
    let fake = Fake { cpus: 1, kubelet: Some("v1.31.0"), ports: vec![6443], ..Default::default() };
    let findings = init_checks(&cfg("v1.31.2"), &fake);
    let warnings = evaluate(&findings, &["numcpu".into(), "port-6443".into()]).unwrap();
    assert_eq!(
        warnings,
        ["\t[WARNING NumCPU]: the number of available CPUs 1 is less than the required 2", "\t[WARNING Port-6443]: Port 6443 is in use"]
    );
    assert!(evaluate(&findings, &["all".into()]).is_ok());
    assert!(evaluate(&findings, &["numcpu".into()]).is_err());
}

#[test]
fn a_missing_kubelet_is_an_error() {
    let fake = Fake { cpus: 2, ..Default::default() };
    let findings = init_checks(&cfg("v1.31.2"), &fake);
    assert_eq!(names(&findings), ["KubeletVersion"]);
    assert!(findings[0].message.starts_with("couldn't get kubelet version"));
}
