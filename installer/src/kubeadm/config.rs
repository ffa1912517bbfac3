//! kubeadm's configuration as `init` reads it: multi-document YAML files with `InitConfiguration`
//! and `ClusterConfiguration` (`kubeadm.k8s.io/v1beta3` or `v1beta4`), optional
//! `KubeletConfiguration` and `KubeProxyConfiguration`; then kubeadm's flags on top, then
//! kubeadm's defaults for the bundle's version. The result, [`InitConfig`], is what every phase
//! renders from: all values resolved, nothing optional that kubeadm would default.

mod documents;
mod init_defaults;
mod join;
mod migrate;
mod reset;
mod resolve;
mod token;
mod values;

pub use documents::{Documents, parse_documents};
pub use init_defaults::{init_defaults_yaml, join_defaults_yaml, reset_defaults_yaml};
pub use join::{Discovery, JoinConfig, JoinControlPlane, JoinFlags, resolve_join};
pub use migrate::migrate;
pub use reset::{ClusterFacts, ResetConfig, ResetFlags, resolve_reset};
pub use resolve::{HostFacts, InitFlags, resolve};
pub use token::{generate_token, is_token};
pub use values::{host_port, indexed_ip, parse_duration, split_host_port};

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bundle::kubeadm::{ApiServer, Arg, BootstrapToken, ClusterConfiguration, ControlPlaneComponent, Etcd, LocalEtcd, Taint};

/// kubeadm's defaults (v1beta4 `defaults.go`).
pub mod defaults {
    /// `networking.dnsDomain`.
    pub const DNS_DOMAIN: &str = "cluster.local";
    /// `networking.serviceSubnet`.
    pub const SERVICE_SUBNET: &str = "10.96.0.0/12";
    /// `certificatesDir`.
    pub const CERTIFICATES_DIR: &str = "/etc/kubernetes/pki";
    /// `clusterName`.
    pub const CLUSTER_NAME: &str = "kubernetes";
    /// `etcd.local.dataDir`.
    pub const ETCD_DATA_DIR: &str = "/var/lib/etcd";
    /// `localAPIEndpoint.bindPort`.
    pub const BIND_PORT: u16 = 6443;
    /// `nodeRegistration.criSocket` when none is detected.
    pub const CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
    /// `imagePullPolicy`: bundles are imported, never pulled.
    pub const IMAGE_PULL_POLICY: &str = "IfNotPresent";
    /// kubeadm's directory.
    pub const KUBERNETES_DIR: &str = "/etc/kubernetes";
    /// Static Pod manifests.
    pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
    /// The control-plane taint (and toleration) key.
    pub const CONTROL_PLANE_TAINT: &str = "node-role.kubernetes.io/control-plane";
}

/// A bad configuration: names the file (or flag) and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A document did not decode.
    #[error("{file}:{line}: {message}")]
    Decode {
        /// The file.
        file: String,
        /// 1-based line in the file.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A value is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

/// A Kubernetes version `vMAJOR.MINOR.PATCH` (pre-release suffixes kept in `text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// 1.
    pub major: u32,
    /// 31.
    pub minor: u32,
    /// 2.
    pub patch: u32,
    /// `v1.31.2` as written (with a leading `v`).
    pub text: String,
}

impl Version {
    /// Parses `v1.31.2` or `1.31.2`.
    pub fn parse(text: &str) -> Option<Self> {
        let bare = text.strip_prefix('v').unwrap_or(text);
        let core = bare.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then(|| Self { major, minor, patch, text: format!("v{bare}") })
    }

    /// At least `1.minor`.
    pub fn at_least(&self, minor: u32) -> bool {
        self.major > 1 || (self.major == 1 && self.minor >= minor)
    }

    /// Whether this release binds the API server's kubelet client certificate to the built-in
    /// `system:kubelet-api-admin` ClusterRole (ClusterRoleBinding
    /// `kubeadm:apiserver-kubelet-client`) instead of putting it in `kubeadm:cluster-admins`
    /// (kubernetes/kubernetes#138964): from v1.36.0, and in v1.33.13 as a backport (read in the
    /// module sources: v1.33.6, v1.34.4 and v1.35.4 still have the organization; later patches of
    /// v1.34 and v1.35 are not served to check).
    pub fn kubelet_api_admin(&self) -> bool {
        self.at_least(36) || (self.major == 1 && self.minor == 33 && self.patch >= 13)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `encryptionAlgorithm`: the key type of every generated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// `RSA-2048` (default).
    Rsa2048,
    /// `RSA-3072`.
    Rsa3072,
    /// `RSA-4096`.
    Rsa4096,
    /// `ECDSA-P256`.
    EcdsaP256,
    /// `ECDSA-P384` (v1.34+).
    EcdsaP384,
}

impl KeyAlgorithm {
    /// kubeadm's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA-2048",
            Self::Rsa3072 => "RSA-3072",
            Self::Rsa4096 => "RSA-4096",
            Self::EcdsaP256 => "ECDSA-P256",
            Self::EcdsaP384 => "ECDSA-P384",
        }
    }

    /// `encryptionAlgorithm` as given (empty: RSA-2048); ECDSA-P384 from v1.34.
    pub fn parse(name: &str, version: &Version) -> Result<Self, ConfigError> {
        Ok(match name {
            "" | "RSA-2048" => Self::Rsa2048,
            "RSA-3072" => Self::Rsa3072,
            "RSA-4096" => Self::Rsa4096,
            "ECDSA-P256" => Self::EcdsaP256,
            "ECDSA-P384" if version.at_least(34) => Self::EcdsaP384,
            other => {
                let p384 = if version.at_least(34) { ", ECDSA-P384" } else { "" };
                return Err(invalid(format!(
                    "ClusterConfiguration.encryptionAlgorithm: `{other}` is not supported by kubeadm {}: use RSA-2048, RSA-3072, RSA-4096, ECDSA-P256{p384}",
                    version
                )));
            }
        })
    }
}

/// The image of each component, from the bundle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentImages {
    /// kube-apiserver.
    pub api_server: String,
    /// kube-controller-manager.
    pub controller_manager: String,
    /// kube-scheduler.
    pub scheduler: String,
    /// kube-proxy.
    pub proxy: String,
    /// etcd.
    pub etcd: String,
    /// CoreDNS.
    pub coredns: String,
    /// pause (the sandbox image).
    pub pause: String,
}

impl ComponentImages {
    /// The images a bundle's manifest names, by component.
    pub fn from_bundle(images: &[bundle::Image]) -> Result<Self, ConfigError> {
        let find = |component: &str| {
            images
                .iter()
                .find(|i| i.component == component)
                .map(|i| i.name.clone())
                .ok_or_else(|| invalid(format!("the bundle has no {component} image: rebuild it with airbundle")))
        };
        Ok(Self {
            api_server: find("kube-apiserver")?,
            controller_manager: find("kube-controller-manager")?,
            scheduler: find("kube-scheduler")?,
            proxy: find("kube-proxy")?,
            etcd: find("etcd")?,
            coredns: find("coredns")?,
            pause: find("pause")?,
        })
    }
}

/// Everything `init` renders from, resolved: config files, then flags, then kubeadm's defaults.
#[derive(Debug, Clone)]
pub struct InitConfig {
    /// The bundle's Kubernetes version.
    pub version: Version,
    /// `nodeRegistration.name`.
    pub node_name: String,
    /// `nodeRegistration.criSocket` (a `unix://` URL).
    pub cri_socket: String,
    /// `localAPIEndpoint.advertiseAddress`.
    pub advertise_address: IpAddr,
    /// `localAPIEndpoint.bindPort`.
    pub bind_port: u16,
    /// `controlPlaneEndpoint` as given (`host[:port]`).
    pub control_plane_endpoint: Option<String>,
    /// `networking.serviceSubnet` (comma-separated).
    pub service_subnet: String,
    /// `networking.podSubnet` (comma-separated).
    pub pod_subnet: Option<String>,
    /// `networking.dnsDomain`.
    pub dns_domain: String,
    /// `clusterName`.
    pub cluster_name: String,
    /// `certificatesDir`, as the node sees it (no `--rootfs`).
    pub cert_dir: String,
    /// `encryptionAlgorithm`.
    pub encryption_algorithm: KeyAlgorithm,
    /// `certificateValidityPeriod`.
    pub cert_validity: Duration,
    /// `caCertificateValidityPeriod`.
    pub ca_validity: Duration,
    /// `apiServer`.
    pub api_server: ApiServer,
    /// `controllerManager`.
    pub controller_manager: ControlPlaneComponent,
    /// `scheduler`.
    pub scheduler: ControlPlaneComponent,
    /// `etcd`: `local` (with `dataDir` set) or `external`.
    pub etcd: Etcd,
    /// The bundle's images.
    pub images: ComponentImages,
    /// `nodeRegistration.taints` (the control-plane taint unless given).
    pub taints: Vec<Taint>,
    /// The kubelet registers [`InitConfig::taints`] itself (`--register-with-taints`): a worker
    /// joining; a control-plane node gets them from `mark-control-plane` instead.
    pub register_taints_with_flags: bool,
    /// `nodeRegistration.kubeletExtraArgs`.
    pub kubelet_extra_args: Vec<Arg>,
    /// `nodeRegistration.imagePullPolicy`.
    pub image_pull_policy: String,
    /// `nodeRegistration.ignorePreflightErrors` plus `--ignore-preflight-errors`, lower-cased.
    pub ignore_preflight_errors: Vec<String>,
    /// `featureGates`.
    pub feature_gates: BTreeMap<String, bool>,
    /// `patches.directory`.
    pub patches_dir: Option<String>,
    /// `timeouts.controlPlaneComponentHealthCheck`.
    pub control_plane_health_timeout: Duration,
    /// `timeouts.kubeletHealthCheck`.
    pub kubelet_health_timeout: Duration,
    /// `timeouts.kubernetesAPICall`.
    pub kubernetes_api_call_timeout: Duration,
    /// `skipPhases` plus `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `bootstrapTokens`.
    pub bootstrap_tokens: Vec<BootstrapToken>,
    /// `certificateKey`.
    pub certificate_key: Option<String>,
    /// The user's `KubeletConfiguration`, if any.
    pub kubelet_configuration: Option<serde_json::Value>,
    /// The user's `KubeProxyConfiguration`, if any.
    pub kube_proxy_configuration: Option<serde_json::Value>,
    /// The `ClusterConfiguration` document, v1beta4, defaulted (what upload-config stores).
    pub cluster_document: ClusterConfiguration,
}

impl InitConfig {
    /// The node paths the config names, each with the field (or flag) that set it, so one that
    /// leaves the root is refused naming it before anything is written.
    pub fn node_paths(&self, flags: &InitFlags) -> Vec<(&'static str, &str)> {
        let mut paths = vec![(if flags.cert_dir.is_some() { "--cert-dir" } else { "certificatesDir" }, self.cert_dir.as_str())];
        if let Some(dir) = self.local_etcd().and_then(|l| l.data_dir.as_deref()) {
            paths.push(("etcd.local.dataDir", dir));
        }
        if let Some(external) = &self.etcd.external {
            let files = [
                ("etcd.external.caFile", &external.ca_file),
                ("etcd.external.certFile", &external.cert_file),
                ("etcd.external.keyFile", &external.key_file),
            ];
            paths.extend(files.into_iter().filter_map(|(field, file)| Some((field, file.as_deref()?))));
        }
        paths
    }

    /// The local etcd, when etcd is stacked.
    pub fn local_etcd(&self) -> Option<&LocalEtcd> {
        self.etcd.local.as_ref()
    }

    /// Whether the advertise address is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.advertise_address.is_ipv6()
    }

    /// `https://<advertise>:<bindPort>` (`GetLocalAPIEndpoint`).
    pub fn local_api_url(&self) -> String {
        format!("https://{}", host_port(&self.advertise_address.to_string(), self.bind_port))
    }

    /// The URL clients use (`GetControlPlaneEndpoint`): the control-plane endpoint, with the bind
    /// port when it names none; else the local endpoint.
    pub fn control_plane_url(&self) -> String {
        match &self.control_plane_endpoint {
            Some(endpoint) => {
                let (host, port) = split_host_port(endpoint);
                format!("https://{}", host_port(host, port.unwrap_or(self.bind_port)))
            }
            None => self.local_api_url(),
        }
    }

    /// The host of the control-plane endpoint, when there is one.
    pub fn control_plane_host(&self) -> Option<&str> {
        self.control_plane_endpoint.as_deref().map(|e| split_host_port(e).0)
    }

    /// The first service CIDR.
    pub fn first_service_cidr(&self) -> &str {
        self.service_subnet.split(',').next().unwrap_or_default().trim()
    }

    /// The API server's service IP: the first address of the first service CIDR (10.96.0.1).
    pub fn api_server_virtual_ip(&self) -> Result<IpAddr, ConfigError> {
        indexed_ip(self.first_service_cidr(), 1)
    }

    /// The cluster DNS IP: the tenth address of the first service CIDR (10.96.0.10).
    pub fn dns_ip(&self) -> Result<IpAddr, ConfigError> {
        indexed_ip(self.first_service_cidr(), 10)
    }

    /// A path of `certificatesDir` (`ca.crt` → `/etc/kubernetes/pki/ca.crt`).
    pub fn cert_path(&self, name: &str) -> String {
        format!("{}/{name}", self.cert_dir.trim_end_matches('/'))
    }

    /// Whether a feature gate is on: as set in `featureGates`, else kubeadm's default in this
    /// release (`cmd/kubeadm/app/features/features.go`, read in the module of every reference
    /// release; a gate that went GA and was removed stays on).
    pub fn feature(&self, name: &str) -> bool {
        self.feature_gates.get(name).copied().unwrap_or_else(|| match name {
            "NodeLocalCRISocket" => self.version.at_least(34),
            "ControlPlaneKubeletLocalMode" | "WaitForAllControlPlaneComponents" => self.version.at_least(33),
            "EtcdLearnerMode" => self.version.at_least(31),
            _ => false,
        })
    }
}
#[cfg(test)]
mod tests;
