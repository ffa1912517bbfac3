//! The kubeadm config cases under `testdata/staticpods/<case>/` shared by the golden and the
//! differential tests: `case.yaml`, whose leading `# version:`, `# etcd:`, `# env:` and `# host:`
//! comments give the bundle's version and etcd tag, the host's environment and the host paths
//! that exist.

use std::path::{Path, PathBuf};

use installer::kubeadm::Version;
use installer::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags};

pub const CASES: &[&str] = &[
    "defaults-v1.31",
    "defaults-v1.34",
    "ha-v1.32",
    "ha-v1.34",
    "ipv6-v1.33",
    "dual-stack-v1.35",
    "external-etcd-v1.36",
    "extras-v1.37",
    "patches-v1.31",
    "v1beta3-v1.32",
    "feature-gates-v1.34",
];

pub struct Case {
    pub dir: PathBuf,
    pub yaml: String,
    pub version: Version,
    pub etcd: String,
    pub env: Vec<(String, String)>,
    pub host_paths: Vec<String>,
}

impl Case {
    pub fn load(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/staticpods").join(name);
        let yaml = fs_err::read_to_string(dir.join("case.yaml")).unwrap();
        let comment = |key: &str| -> Vec<String> {
            yaml.lines().filter_map(|l| l.strip_prefix(&format!("# {key}: "))).map(str::to_owned).collect::<Vec<_>>()
        };
        let version = Version::parse(&comment("version")[0]).unwrap();
        let etcd = comment("etcd")[0].clone();
        let env = comment("env").iter().map(|e| e.split_once('=').map(|(n, v)| (n.to_owned(), v.to_owned())).unwrap()).collect();
        let host_paths = comment("host");
        Self { dir, yaml, version, etcd, env, host_paths }
    }

    pub fn config(&self) -> installer::kubeadm::InitConfig {
        let docs = config::parse_documents(&self.yaml, "case.yaml").unwrap();
        let v = &self.version;
        let images = ComponentImages {
            api_server: format!("registry.k8s.io/kube-apiserver:{v}"),
            controller_manager: format!("registry.k8s.io/kube-controller-manager:{v}"),
            scheduler: format!("registry.k8s.io/kube-scheduler:{v}"),
            etcd: format!("registry.k8s.io/etcd:{}", self.etcd),
            ..Default::default()
        };
        let host = HostFacts { hostname: "node".into(), default_address: Some("10.0.0.99".parse().unwrap()), cri_socket: None };
        let mut cfg = config::resolve(docs, &InitFlags::default(), &host, v, images).unwrap();
        // `patches.directory` is relative to the case.
        cfg.patches_dir = cfg.patches_dir.map(|d| self.dir.join(d).display().to_string());
        cfg
    }
}
