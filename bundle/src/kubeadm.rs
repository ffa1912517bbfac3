//! kubeadm's configuration types (`kubeadm.k8s.io/v1beta4`), shared by the builder, which
//! pre-renders `configs/kubeadm-config.yaml` into every bundle, and the installer, which reads
//! users' config files. Field names and shapes follow kubeadm's v1beta4 `types.go`; every field
//! is optional here (kubeadm's defaulting fills them in) and unknown fields are refused, as
//! kubeadm's strict decoding does. `JoinConfiguration` is in `kubeadm/join.rs`.

use serde::{Deserialize, Serialize};

mod etcd;
mod join;
mod reset;
pub use etcd::{Dns, Etcd, ExternalEtcd, LocalEtcd, Proxy};
pub use join::{BootstrapTokenDiscovery, Discovery, FileDiscovery, JoinConfiguration, JoinControlPlane};
pub use reset::ResetConfiguration;

/// `apiVersion` of the v1beta4 kubeadm config API.
pub const API_VERSION_V1BETA4: &str = "kubeadm.k8s.io/v1beta4";
/// `apiVersion` of the v1beta3 kubeadm config API (read, converted to v1beta4).
pub const API_VERSION_V1BETA3: &str = "kubeadm.k8s.io/v1beta3";

/// kubeadm's `InitConfiguration`: node-local settings for `init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfiguration {
    /// Always [`API_VERSION_V1BETA4`].
    pub api_version: String,
    /// Always `InitConfiguration`.
    pub kind: String,
    /// Bootstrap tokens created at init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_tokens: Option<Vec<BootstrapToken>>,
    /// Only print what would be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// How this node registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_registration: Option<NodeRegistrationOptions>,
    /// This node's API server endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "localAPIEndpoint")]
    pub local_api_endpoint: Option<ApiEndpoint>,
    /// Key encrypting the certificates of the `kubeadm-certs` Secret (hex, 32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
    /// Phases to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_phases: Option<Vec<String>>,
    /// Patches applied to the rendered manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Patches>,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

/// kubeadm's `BootstrapToken`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapToken {
    /// `[a-z0-9]{6}.[a-z0-9]{16}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Lifetime (`24h0m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Absolute expiry (RFC 3339); excludes `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `signing`, `authentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usages: Option<Vec<String>>,
    /// Extra groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// kubeadm's `NodeRegistrationOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRegistrationOptions {
    /// Node name (default: the hostname, lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// CRI socket URL (`unix:///run/containerd/containerd.sock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    /// Taints: absent means the control-plane taint, `[]` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    /// Extra kubelet flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_extra_args: Option<Vec<Arg>>,
    /// Preflight errors to treat as warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_preflight_errors: Option<Vec<String>>,
    /// `Always`, `IfNotPresent` or `Never`; bundles use `IfNotPresent` so nothing is pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Pull images one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_serial: Option<bool>,
}

/// A node taint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
    pub effect: String,
    /// When it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

/// kubeadm's `APIEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiEndpoint {
    /// The address the API server advertises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_address: Option<String>,
    /// Its secure port (6443).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_port: Option<u16>,
}

/// kubeadm's `Patches`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patches {
    /// Directory of `target[suffix][+patchtype].{json,yaml}` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
}

/// kubeadm's `Timeouts` (Go durations, `4m0s`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Timeouts {
    /// Control-plane components healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_component_health_check: Option<String>,
    /// Kubelet healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubelet_health_check: Option<String>,
    /// One API call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "kubernetesAPICall")]
    pub kubernetes_api_call: Option<String>,
    /// One etcd call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "etcdAPICall")]
    pub etcd_api_call: Option<String>,
    /// TLS bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_bootstrap: Option<String>,
    /// Join discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<String>,
    /// Upgrade of the static Pod manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_manifests: Option<String>,
}

/// kubeadm's `ClusterConfiguration`: cluster-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    /// Always [`API_VERSION_V1BETA4`].
    pub api_version: String,
    /// Always `ClusterConfiguration`.
    pub kind: String,
    /// etcd settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Etcd>,
    /// Service/pod subnets and DNS domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    /// `v1.31.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Shared endpoint of the control plane (`host[:port]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    /// kube-apiserver settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServer>,
    /// kube-controller-manager settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_manager: Option<ControlPlaneComponent>,
    /// kube-scheduler settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<ControlPlaneComponent>,
    /// CoreDNS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
    /// kube-proxy settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// Where certificates live (`/etc/kubernetes/pki`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates_dir: Option<String>,
    /// Where the control-plane images are named from (`registry.k8s.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// kubeadm feature gates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_gates: Option<std::collections::BTreeMap<String, bool>>,
    /// Cluster name (`kubernetes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Key type: `RSA-2048` (default), `RSA-3072`, `RSA-4096`, `ECDSA-P256`, `ECDSA-P384`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
    /// Leaf certificate validity (`8760h0m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_validity_period: Option<String>,
    /// CA certificate validity (`87600h0m0s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_validity_period: Option<String>,
}

/// kubeadm's `Networking`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// Service CIDR(s), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_subnet: Option<String>,
    /// Pod CIDR(s), comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_subnet: Option<String>,
    /// Service DNS domain (`cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_domain: Option<String>,
}

/// A command-line argument (`--name=value`); names may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    /// Flag name without dashes.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A container environment variable (Kubernetes `EnvVar`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Source (`fieldRef`, `secretKeyRef`, …), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<serde_json::Value>,
}

/// kubeadm's `HostPathMount`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostPathMount {
    /// Volume name.
    pub name: String,
    /// Path on the host.
    pub host_path: String,
    /// Path in the container.
    pub mount_path: String,
    /// Read-only mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// `DirectoryOrCreate`, `File`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_type: Option<String>,
}

/// kubeadm's `ControlPlaneComponent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlaneComponent {
    /// Extra flags (override defaults of the same name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<Arg>>,
    /// Extra hostPath volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_volumes: Option<Vec<HostPathMount>>,
    /// Extra environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_envs: Option<Vec<EnvVar>>,
}

/// kubeadm's `APIServer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiServer {
    /// Extra flags (override defaults of the same name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<Vec<Arg>>,
    /// Extra hostPath volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_volumes: Option<Vec<HostPathMount>>,
    /// Extra environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_envs: Option<Vec<EnvVar>>,
    /// Extra SANs of the serving certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "certSANs")]
    pub cert_sans: Option<Vec<String>>,
}

/// Renders documents as one multi-document YAML file, as kubeadm reads it.
pub fn to_multi_document_yaml(documents: &[&dyn erased::ToYaml]) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for (i, doc) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&doc.to_yaml()?);
    }
    Ok(out)
}

/// Object-safe YAML serialisation, so different documents can go in one file.
pub mod erased {
    /// Serialises `self` to YAML.
    pub trait ToYaml {
        /// The YAML text.
        fn to_yaml(&self) -> Result<String, serde_saphyr::ser::Error>;
    }

    impl<T: serde::Serialize> ToYaml for T {
        fn to_yaml(&self) -> Result<String, serde_saphyr::ser::Error> {
            serde_saphyr::to_string(self)
        }
    }
}
