//! kubeadm's configuration as `init` reads it: multi-document YAML files with `InitConfiguration`
//! and `ClusterConfiguration` (`kubeadm.k8s.io/v1beta3` or `v1beta4`), optional
//! `KubeletConfiguration` and `KubeProxyConfiguration`; then kubeadm's flags on top, then
//! kubeadm's defaults for the bundle's version. The result, [`InitConfig`], is what every phase
//! renders from: all values resolved, nothing optional that kubeadm would default.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bundle::kubeadm::{
    API_VERSION_V1BETA3, API_VERSION_V1BETA4, ApiEndpoint, ApiServer, Arg, BootstrapToken, ClusterConfiguration, ControlPlaneComponent,
    Etcd, InitConfiguration, LocalEtcd, Networking, NodeRegistrationOptions, Taint, Timeouts,
};

use super::v1beta3;

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

    fn parse(name: &str, version: &Version) -> Result<Self, ConfigError> {
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

    /// Whether a feature gate is on.
    pub fn feature(&self, name: &str) -> bool {
        self.feature_gates.get(name).copied().unwrap_or(false)
    }
}

/// `host:port`, IPv6 hosts bracketed (Go's `net.JoinHostPort`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Splits `host[:port]` (`[v6]:port` too).
pub fn split_host_port(endpoint: &str) -> (&str, Option<u16>) {
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (endpoint, None),
    }
}

/// The `index`th address of `cidr` (`netutils.GetIndexedIP`).
pub fn indexed_ip(cidr: &str, index: u128) -> Result<IpAddr, ConfigError> {
    let bad = || invalid(format!("networking.serviceSubnet: `{cidr}` is not a valid CIDR"));
    let (addr, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    Ok(match addr {
        IpAddr::V4(v4) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            IpAddr::V4(((u32::from(v4) & mask) + u32::try_from(index).map_err(|_| bad())?).into())
        }
        IpAddr::V6(v6) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            IpAddr::V6(((u128::from(v6) & mask) + index).into())
        }
        _ => return Err(bad()),
    })
}

/// Parses a Go duration (`8760h0m0s`, `4m`, `1.5h`, `30s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// One decoded document, with where it came from.
#[derive(Debug)]
pub struct Documents {
    /// `InitConfiguration`, converted to v1beta4.
    pub init: Option<InitConfiguration>,
    /// `ClusterConfiguration`, converted to v1beta4.
    pub cluster: Option<ClusterConfiguration>,
    /// `KubeletConfiguration`.
    pub kubelet: Option<serde_json::Value>,
    /// `KubeProxyConfiguration`.
    pub kube_proxy: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

/// Decodes a kubeadm config file (`file` names it in errors): strictly, as kubeadm does.
pub fn parse_documents(text: &str, file: &str) -> Result<Documents, ConfigError> {
    let mut docs = Documents { init: None, cluster: None, kubelet: None, kube_proxy: None };
    let mut control_plane_timeout = None;
    for (first_line, doc) in split_documents(text) {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let decode_error = |e: serde_saphyr::Error| decode_error(&e.to_string(), file, first_line);
        let meta: TypeMeta = serde_saphyr::from_str(doc).map_err(decode_error)?;
        let at = |message: String| ConfigError::Decode { file: file.to_owned(), line: first_line, message };
        match (meta.api_version.as_str(), meta.kind.as_str()) {
            (API_VERSION_V1BETA4, "InitConfiguration") => {
                set_once(&mut docs.init, serde_saphyr::from_str(doc).map_err(decode_error)?, "InitConfiguration", &at)?
            }
            (API_VERSION_V1BETA4, "ClusterConfiguration") => {
                set_once(&mut docs.cluster, serde_saphyr::from_str(doc).map_err(decode_error)?, "ClusterConfiguration", &at)?
            }
            (API_VERSION_V1BETA3, "InitConfiguration") => {
                let old: v1beta3::InitConfiguration = serde_saphyr::from_str(doc).map_err(decode_error)?;
                set_once(&mut docs.init, old.into(), "InitConfiguration", &at)?
            }
            (API_VERSION_V1BETA3, "ClusterConfiguration") => {
                let old: v1beta3::ClusterConfiguration = serde_saphyr::from_str(doc).map_err(decode_error)?;
                let (cluster, timeout) = old.convert();
                set_once(&mut docs.cluster, cluster, "ClusterConfiguration", &at)?;
                control_plane_timeout = timeout;
            }
            ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration") => {
                set_once(&mut docs.kubelet, serde_saphyr::from_str(doc).map_err(decode_error)?, "KubeletConfiguration", &at)?
            }
            ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration") => {
                set_once(&mut docs.kube_proxy, serde_saphyr::from_str(doc).map_err(decode_error)?, "KubeProxyConfiguration", &at)?
            }
            ("kubeadm.k8s.io/v1beta3" | "kubeadm.k8s.io/v1beta4", "JoinConfiguration" | "ResetConfiguration" | "UpgradeConfiguration") => {
                tracing::warn!("{file}:{first_line}: {} is not used by init; ignored", meta.kind);
            }
            (api_version, kind) if api_version.starts_with("kubeadm.k8s.io/") => {
                return Err(at(format!(
                    "{kind} of {api_version} is not supported: use kubeadm.k8s.io/v1beta4 (or v1beta3) InitConfiguration/ClusterConfiguration"
                )));
            }
            ("", _) | (_, "") => return Err(at("document without apiVersion and kind".into())),
            (api_version, kind) => {
                return Err(at(format!(
                    "unknown document {api_version}, Kind={kind}: expected kubeadm.k8s.io/v1beta4 InitConfiguration or ClusterConfiguration, kubelet.config.k8s.io/v1beta1 KubeletConfiguration or kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration"
                )));
            }
        }
    }
    if let Some(timeout) = control_plane_timeout {
        // v1beta3's apiServer.timeoutForControlPlane lives in InitConfiguration.timeouts now.
        let init = docs.init.get_or_insert_with(|| InitConfiguration {
            api_version: API_VERSION_V1BETA4.into(),
            kind: "InitConfiguration".into(),
            ..Default::default()
        });
        init.timeouts.get_or_insert_with(Timeouts::default).control_plane_component_health_check.get_or_insert(timeout);
    }
    Ok(docs)
}

fn set_once<T>(slot: &mut Option<T>, value: T, kind: &str, at: &dyn Fn(String) -> ConfigError) -> Result<(), ConfigError> {
    if slot.is_some() {
        return Err(at(format!("a second {kind} document: give each kind once")));
    }
    *slot = Some(value);
    Ok(())
}

/// The documents of a multi-document YAML text, each with its first line (1-based).
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut offset) = (0, 1, 0);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            docs.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

/// serde-saphyr's `line N column M: message` moved to the line in the whole file.
fn decode_error(message: &str, file: &str, first_line: usize) -> ConfigError {
    let first = message.lines().next().unwrap_or(message).trim_start_matches("error: ");
    let parsed = first.strip_prefix("line ").and_then(|rest| {
        let (line, rest) = rest.split_once(' ')?;
        let (_, text) = rest.split_once(": ")?;
        Some((line.parse::<usize>().ok()?, text))
    });
    match parsed {
        Some((line, text)) => ConfigError::Decode { file: file.to_owned(), line: first_line + line - 1, message: text.to_owned() },
        None => ConfigError::Decode { file: file.to_owned(), line: first_line, message: first.to_owned() },
    }
}

/// kubeadm's init flags that change the configuration (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    /// `--apiserver-advertise-address`.
    pub advertise_address: Option<String>,
    /// `--apiserver-bind-port`.
    pub bind_port: Option<u16>,
    /// `--apiserver-cert-extra-sans`.
    pub cert_extra_sans: Vec<String>,
    /// `--control-plane-endpoint`.
    pub control_plane_endpoint: Option<String>,
    /// `--pod-network-cidr`.
    pub pod_network_cidr: Option<String>,
    /// `--service-cidr`.
    pub service_cidr: Option<String>,
    /// `--service-dns-domain`.
    pub service_dns_domain: Option<String>,
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--cert-dir`.
    pub cert_dir: Option<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--ignore-preflight-errors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `--patches`.
    pub patches: Option<String>,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--token-ttl`.
    pub token_ttl: Option<String>,
    /// `--feature-gates` (`Name=true,Other=false`).
    pub feature_gates: Option<String>,
}

/// What the host says, for defaults the config does not give.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The hostname, lower-cased.
    pub hostname: String,
    /// The address of the default route's interface, when there is one.
    pub default_address: Option<IpAddr>,
    /// The detected CRI socket, when there is one.
    pub cri_socket: Option<String>,
}

/// Builds the resolved configuration: documents, then flags, then defaults. `version` and
/// `images` come from the bundle. With a config file, the command line refuses every flag that
/// sets a field (kubeadm's `ValidateMixedArguments`, [`crate::cli::init::mixed_with_config`]), so
/// the flags left are the ones kubeadm applies over the file: `--node-name` wins,
/// `--ignore-preflight-errors` adds to the file's, `--skip-phases` replaces the file's.
pub fn resolve(
    docs: Documents,
    flags: &InitFlags,
    host: &HostFacts,
    version: &Version,
    images: ComponentImages,
) -> Result<InitConfig, ConfigError> {
    let mut init = docs.init.unwrap_or_default();
    let mut cluster = docs.cluster.unwrap_or_default();
    init.api_version = API_VERSION_V1BETA4.into();
    init.kind = "InitConfiguration".into();
    cluster.api_version = API_VERSION_V1BETA4.into();
    cluster.kind = "ClusterConfiguration".into();

    if let Some(given) = cluster.kubernetes_version.as_deref() {
        let parsed = Version::parse(given)
            .ok_or_else(|| invalid(format!("ClusterConfiguration.kubernetesVersion: `{given}` is not a version like v1.31.2")))?;
        if parsed.major != version.major || parsed.minor != version.minor || parsed.patch != version.patch {
            return Err(invalid(format!(
                "ClusterConfiguration.kubernetesVersion is {given} but the bundle is for {version}: use a {given} bundle, or remove kubernetesVersion"
            )));
        }
    }
    cluster.kubernetes_version = Some(version.text.clone());

    // Flags over documents.
    let node = init.node_registration.get_or_insert_with(NodeRegistrationOptions::default);
    let endpoint = init.local_api_endpoint.get_or_insert_with(ApiEndpoint::default);
    let networking = cluster.networking.get_or_insert_with(Networking::default);
    if let Some(v) = &flags.advertise_address {
        endpoint.advertise_address = Some(v.clone());
    }
    if let Some(v) = flags.bind_port {
        endpoint.bind_port = Some(v);
    }
    if let Some(v) = &flags.control_plane_endpoint {
        cluster.control_plane_endpoint = Some(v.clone());
    }
    if let Some(v) = &flags.pod_network_cidr {
        networking.pod_subnet = Some(v.clone());
    }
    if let Some(v) = &flags.service_cidr {
        networking.service_subnet = Some(v.clone());
    }
    if let Some(v) = &flags.service_dns_domain {
        networking.dns_domain = Some(v.clone());
    }
    if let Some(v) = &flags.node_name {
        node.name = Some(v.clone());
    }
    if let Some(v) = &flags.cert_dir {
        cluster.certificates_dir = Some(v.clone());
    }
    if let Some(v) = &flags.cri_socket {
        node.cri_socket = Some(v.clone());
    }
    if let Some(v) = &flags.patches {
        init.patches = Some(bundle::kubeadm::Patches { directory: Some(v.clone()) });
    }
    if let Some(v) = &flags.certificate_key {
        init.certificate_key = Some(v.clone());
    }
    if !flags.cert_extra_sans.is_empty() {
        let api_server = cluster.api_server.get_or_insert_with(ApiServer::default);
        api_server.cert_sans.get_or_insert_with(Vec::new).extend(flags.cert_extra_sans.iter().cloned());
    }
    if let Some(gates) = &flags.feature_gates {
        let map = cluster.feature_gates.get_or_insert_with(BTreeMap::new);
        for pair in gates.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| invalid(format!("--feature-gates: `{pair}` is not Name=true|false")))?;
            let value = value.parse().map_err(|_| invalid(format!("--feature-gates: `{pair}` is not Name=true|false")))?;
            map.insert(name.to_owned(), value);
        }
    }
    if flags.token.is_some() || flags.token_ttl.is_some() {
        let tokens = init.bootstrap_tokens.get_or_insert_with(|| vec![BootstrapToken::default()]);
        if tokens.is_empty() {
            tokens.push(BootstrapToken::default());
        }
        if let Some(token) = &flags.token {
            tokens[0].token = Some(token.clone());
        }
        if let Some(ttl) = &flags.token_ttl {
            tokens[0].ttl = Some(ttl.clone());
        }
    }

    // Defaults.
    let node = init.node_registration.get_or_insert_with(NodeRegistrationOptions::default);
    let node_name = node.name.clone().unwrap_or_else(|| host.hostname.clone());
    validate_node_name(&node_name)?;
    node.name = Some(node_name.clone());
    let cri_socket = node.cri_socket.clone().or_else(|| host.cri_socket.clone()).unwrap_or_else(|| defaults::CRI_SOCKET.to_owned());
    node.cri_socket = Some(cri_socket.clone());
    let image_pull_policy = node.image_pull_policy.get_or_insert_with(|| defaults::IMAGE_PULL_POLICY.into()).clone();
    node.image_pull_serial.get_or_insert(true);
    let taints = node
        .taints
        .clone()
        .unwrap_or_else(|| vec![Taint { key: defaults::CONTROL_PLANE_TAINT.into(), effect: "NoSchedule".into(), ..Default::default() }]);
    // `timeAdded` is a metav1.Time: kubeadm's decoder refuses a value that is not RFC 3339, and
    // mark-control-plane relies on this check instead of dropping it.
    for (i, taint) in taints.iter().enumerate() {
        if let Some(at) = taint.time_added.as_deref()
            && serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>(serde_json::json!(at)).is_err()
        {
            return Err(invalid(format!(
                "nodeRegistration.taints[{i}].timeAdded: `{at}` is not an RFC 3339 time like 2024-05-01T10:00:00Z"
            )));
        }
    }
    let kubelet_extra_args = node.kubelet_extra_args.clone().unwrap_or_default();
    let mut ignore_preflight_errors: Vec<String> = node.ignore_preflight_errors.clone().unwrap_or_default();
    ignore_preflight_errors.extend(flags.ignore_preflight_errors.iter().cloned());
    let ignore_preflight_errors = ignore_preflight_errors.iter().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect();

    let endpoint = init.local_api_endpoint.get_or_insert_with(ApiEndpoint::default);
    let advertise_address = match endpoint.advertise_address.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => {
            let ip: IpAddr = text.parse().map_err(|_| {
                invalid(format!("localAPIEndpoint.advertiseAddress: `{text}` is not a valid textual representation of an IP address"))
            })?;
            if ip.is_unspecified() {
                host.default_address
                    .ok_or_else(|| invalid("no default route to choose an advertise address from: pass --apiserver-advertise-address"))?
            } else {
                ip
            }
        }
        None => host.default_address.ok_or_else(|| {
            invalid("this node has no default route to choose an advertise address from: pass --apiserver-advertise-address")
        })?,
    };
    endpoint.advertise_address = Some(advertise_address.to_string());
    let bind_port = *endpoint.bind_port.get_or_insert(defaults::BIND_PORT);
    if bind_port == 0 {
        return Err(invalid("localAPIEndpoint.bindPort: 0 is not a valid port"));
    }

    let networking = cluster.networking.get_or_insert_with(Networking::default);
    let service_subnet = networking.service_subnet.get_or_insert_with(|| defaults::SERVICE_SUBNET.into()).clone();
    let dns_domain = networking.dns_domain.get_or_insert_with(|| defaults::DNS_DOMAIN.into()).clone();
    let pod_subnet = networking.pod_subnet.clone().filter(|s| !s.is_empty());
    for cidr in service_subnet.split(',').chain(pod_subnet.as_deref().unwrap_or_default().split(',')).filter(|c| !c.is_empty()) {
        indexed_ip(cidr.trim(), 0).map_err(|_| invalid(format!("networking: `{cidr}` is not a valid CIDR")))?;
    }
    let cert_dir = cluster.certificates_dir.get_or_insert_with(|| defaults::CERTIFICATES_DIR.into()).clone();
    if !cert_dir.starts_with('/') {
        return Err(invalid(format!("certificatesDir: `{cert_dir}` must be an absolute path")));
    }
    let cluster_name = cluster.cluster_name.get_or_insert_with(|| defaults::CLUSTER_NAME.into()).clone();
    cluster.image_repository.get_or_insert_with(|| image_repository(&images.api_server));
    let algorithm = cluster.encryption_algorithm.get_or_insert_with(|| "RSA-2048".into()).clone();
    let encryption_algorithm = KeyAlgorithm::parse(&algorithm, version)?;
    let cert_validity = validity(&mut cluster.certificate_validity_period, "8760h0m0s", "certificateValidityPeriod")?;
    let ca_validity = validity(&mut cluster.ca_certificate_validity_period, "87600h0m0s", "caCertificateValidityPeriod")?;
    let etcd = cluster.etcd.get_or_insert_with(Etcd::default);
    match (&mut etcd.local, &etcd.external) {
        (Some(_), Some(_)) => return Err(invalid("ClusterConfiguration.etcd: give either local or external, not both")),
        (None, Some(external)) if external.endpoints.is_empty() => {
            return Err(invalid("ClusterConfiguration.etcd.external.endpoints: at least one endpoint is needed"));
        }
        (None, Some(_)) => {}
        (local, None) => {
            let local = local.get_or_insert_with(LocalEtcd::default);
            local.data_dir.get_or_insert_with(|| defaults::ETCD_DATA_DIR.into());
        }
    }
    let timeouts = init.timeouts.get_or_insert_with(Timeouts::default);
    let health = timeouts.control_plane_component_health_check.get_or_insert_with(|| "4m0s".into()).clone();
    let control_plane_health_timeout = parse_duration(&health)
        .ok_or_else(|| invalid(format!("timeouts.controlPlaneComponentHealthCheck: `{health}` is not a duration like 4m0s")))?;
    let kubelet_health = timeouts.kubelet_health_check.get_or_insert_with(|| "4m0s".into()).clone();
    let kubelet_health_timeout = parse_duration(&kubelet_health)
        .ok_or_else(|| invalid(format!("timeouts.kubeletHealthCheck: `{kubelet_health}` is not a duration like 4m0s")))?;
    let api_call = timeouts.kubernetes_api_call.get_or_insert_with(|| "1m0s".into()).clone();
    let kubernetes_api_call_timeout = parse_duration(&api_call)
        .ok_or_else(|| invalid(format!("timeouts.kubernetesAPICall: `{api_call}` is not a duration like 1m0s")))?;
    timeouts.etcd_api_call.get_or_insert_with(|| "2m0s".into());
    timeouts.tls_bootstrap.get_or_insert_with(|| "5m0s".into());
    timeouts.discovery.get_or_insert_with(|| "5m0s".into());
    timeouts.upgrade_manifests.get_or_insert_with(|| "5m0s".into());
    let bootstrap_tokens = init.bootstrap_tokens.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| vec![BootstrapToken::default()]);
    let bootstrap_tokens = bootstrap_tokens.into_iter().map(default_token).collect::<Result<_, _>>()?;
    if let Some(key) = &init.certificate_key
        && (key.len() != 64 || hex::decode(key).is_err())
    {
        return Err(invalid("certificateKey (--certificate-key): must be 64 hex characters (32 bytes)"));
    }
    // kubeadm v1.31 cmd/init.go: "If the flag for skipping phases was empty, use the values from config".
    let skip_phases = if flags.skip_phases.is_empty() { init.skip_phases.clone().unwrap_or_default() } else { flags.skip_phases.clone() };

    Ok(InitConfig {
        version: version.clone(),
        node_name,
        cri_socket,
        advertise_address,
        bind_port,
        control_plane_endpoint: cluster.control_plane_endpoint.clone().filter(|e| !e.is_empty()),
        service_subnet,
        pod_subnet,
        dns_domain,
        cluster_name,
        cert_dir,
        encryption_algorithm,
        cert_validity,
        ca_validity,
        api_server: cluster.api_server.clone().unwrap_or_default(),
        controller_manager: cluster.controller_manager.clone().unwrap_or_default(),
        scheduler: cluster.scheduler.clone().unwrap_or_default(),
        etcd: cluster.etcd.clone().unwrap_or_default(),
        images,
        taints,
        kubelet_extra_args,
        image_pull_policy,
        ignore_preflight_errors,
        feature_gates: cluster.feature_gates.clone().unwrap_or_default(),
        patches_dir: init.patches.as_ref().and_then(|p| p.directory.clone()).filter(|d| !d.is_empty()),
        control_plane_health_timeout,
        kubelet_health_timeout,
        kubernetes_api_call_timeout,
        skip_phases,
        bootstrap_tokens,
        certificate_key: init.certificate_key.clone(),
        kubelet_configuration: docs.kubelet,
        kube_proxy_configuration: docs.kube_proxy,
        cluster_document: cluster,
    })
}

fn validity(slot: &mut Option<String>, default: &str, field: &str) -> Result<Duration, ConfigError> {
    let text = slot.get_or_insert_with(|| default.into()).clone();
    parse_duration(&text).ok_or_else(|| invalid(format!("ClusterConfiguration.{field}: `{text}` is not a duration like {default}")))
}

/// `registry.k8s.io` from `registry.k8s.io/kube-apiserver:v1.31.2`.
fn image_repository(image: &str) -> String {
    image.rsplit_once('/').map(|(repo, _)| repo.to_owned()).unwrap_or_default()
}

fn validate_node_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("nodeRegistration.name (--node-name): `{name}` is not a valid node name (lower-case RFC 1123 subdomain)")))
    }
}

/// kubeadm's bootstrap-token defaults; a token is generated when none is given.
fn default_token(mut token: BootstrapToken) -> Result<BootstrapToken, ConfigError> {
    match &token.token {
        Some(t) if !is_token(t) => {
            return Err(invalid(format!("bootstrapTokens.token (--token): `{t}` does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}")));
        }
        Some(_) => {}
        None => token.token = Some(generate_token()),
    }
    if token.expires.is_none() {
        token.ttl.get_or_insert_with(|| "24h0m0s".into());
    }
    token.usages.get_or_insert_with(|| vec!["signing".into(), "authentication".into()]);
    token.groups.get_or_insert_with(|| vec!["system:bootstrappers:kubeadm:default-node-token".into()]);
    Ok(token)
}

/// `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn is_token(token: &str) -> bool {
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    matches!(token.split_once('.'), Some((id, secret)) if ok(id, 6) && ok(secret, 16))
}

/// A random bootstrap token.
pub fn generate_token() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(23);
    let mut bytes = [0u8; 64];
    while out.len() < 23 {
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            continue;
        }
        // Only bytes below 252 = 7 × 36, so every character is equally likely.
        for b in bytes.iter().filter(|b| **b < 252) {
            if out.len() == 6 {
                out.push('.');
            }
            if out.len() < 23 {
                out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;

/// `kubeadm config print init-defaults`: kubeadm's defaulted v1beta4 documents with its
/// placeholders (advertise address 1.2.3.4, token abcdef.0123456789abcdef, node name `node`);
/// `version` and `image_repository` from the bundle when one is given.
pub fn init_defaults_yaml(version: Option<&str>, image_repository: Option<&str>) -> Result<String, ConfigError> {
    let init = InitConfiguration {
        api_version: API_VERSION_V1BETA4.into(),
        kind: "InitConfiguration".into(),
        bootstrap_tokens: Some(vec![BootstrapToken {
            token: Some("abcdef.0123456789abcdef".into()),
            ttl: Some("24h0m0s".into()),
            usages: Some(vec!["signing".into(), "authentication".into()]),
            groups: Some(vec!["system:bootstrappers:kubeadm:default-node-token".into()]),
            ..Default::default()
        }]),
        local_api_endpoint: Some(ApiEndpoint { advertise_address: Some("1.2.3.4".into()), bind_port: Some(defaults::BIND_PORT) }),
        node_registration: Some(NodeRegistrationOptions {
            cri_socket: Some(defaults::CRI_SOCKET.into()),
            image_pull_policy: Some(defaults::IMAGE_PULL_POLICY.into()),
            image_pull_serial: Some(true),
            name: Some("node".into()),
            ..Default::default()
        }),
        timeouts: Some(Timeouts {
            control_plane_component_health_check: Some("4m0s".into()),
            discovery: Some("5m0s".into()),
            etcd_api_call: Some("2m0s".into()),
            kubelet_health_check: Some("4m0s".into()),
            kubernetes_api_call: Some("1m0s".into()),
            tls_bootstrap: Some("5m0s".into()),
            upgrade_manifests: Some("5m0s".into()),
        }),
        ..Default::default()
    };
    let cluster = ClusterConfiguration {
        api_version: API_VERSION_V1BETA4.into(),
        kind: "ClusterConfiguration".into(),
        api_server: Some(ApiServer::default()),
        ca_certificate_validity_period: Some("87600h0m0s".into()),
        certificate_validity_period: Some("8760h0m0s".into()),
        certificates_dir: Some(defaults::CERTIFICATES_DIR.into()),
        cluster_name: Some(defaults::CLUSTER_NAME.into()),
        controller_manager: Some(ControlPlaneComponent::default()),
        dns: Some(bundle::kubeadm::Dns::default()),
        encryption_algorithm: Some("RSA-2048".into()),
        etcd: Some(Etcd {
            local: Some(LocalEtcd { data_dir: Some(defaults::ETCD_DATA_DIR.into()), ..Default::default() }),
            external: None,
        }),
        image_repository: Some(image_repository.unwrap_or("registry.k8s.io").into()),
        kubernetes_version: version.map(str::to_owned),
        networking: Some(Networking {
            dns_domain: Some(defaults::DNS_DOMAIN.into()),
            service_subnet: Some(defaults::SERVICE_SUBNET.into()),
            pod_subnet: None,
        }),
        proxy: Some(bundle::kubeadm::Proxy::default()),
        scheduler: Some(ControlPlaneComponent::default()),
        ..Default::default()
    };
    // Through serde_json::Value: keys sorted as kubeadm prints them; `taints: null` as kubeadm's
    // nil slice (the control-plane taint by default).
    let yaml = |value: &serde_json::Value| Ok::<_, ConfigError>(super::yaml::to_yaml(value));
    let mut init = serde_json::to_value(&init).map_err(|e| invalid(e.to_string()))?;
    init["nodeRegistration"]["taints"] = serde_json::Value::Null;
    let cluster = serde_json::to_value(&cluster).map_err(|e| invalid(e.to_string()))?;
    Ok(format!("{}---\n{}", yaml(&init)?, yaml(&cluster)?))
}
