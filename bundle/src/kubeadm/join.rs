//! kubeadm's `JoinConfiguration` (`kubeadm.k8s.io/v1beta4`, types.go): node-local settings for
//! `join`, every field optional, unknown fields refused.

use serde::{Deserialize, Serialize};

use super::{ApiEndpoint, NodeRegistrationOptions, Patches, Timeouts};

/// kubeadm's `JoinConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinConfiguration {
    /// Always `kubeadm.k8s.io/v1beta4`.
    pub api_version: String,
    /// Always `JoinConfiguration`.
    pub kind: String,
    /// Only print what would be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// How this node registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_registration: Option<NodeRegistrationOptions>,
    /// Where the cluster CA goes (`/etc/kubernetes/pki/ca.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "caCertPath")]
    pub ca_cert_path: Option<String>,
    /// How the cluster is found and trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// Set when the node joins as another control-plane node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<JoinControlPlane>,
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

/// kubeadm's `JoinControlPlane`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinControlPlane {
    /// The new control-plane node's API server endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "localAPIEndpoint")]
    pub local_api_endpoint: Option<ApiEndpoint>,
    /// Key decrypting the `kubeadm-certs` Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_key: Option<String>,
}

/// kubeadm's `Discovery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Discovery {
    /// Token-based discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_token: Option<BootstrapTokenDiscovery>,
    /// File (or https URL) discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileDiscovery>,
    /// The token of the kubelet's TLS bootstrap (default: the discovery token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "tlsBootstrapToken")]
    pub tls_bootstrap_token: Option<String>,
}

/// kubeadm's `BootstrapTokenDiscovery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapTokenDiscovery {
    /// `abcdef.0123456789abcdef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `host:port` of an API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "apiServerEndpoint")]
    pub api_server_endpoint: Option<String>,
    /// `sha256:…` pins of the CA's public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "caCertHashes")]
    pub ca_cert_hashes: Option<Vec<String>>,
    /// Trust whatever CA `cluster-info` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "unsafeSkipCAVerification")]
    pub unsafe_skip_ca_verification: Option<bool>,
}

/// kubeadm's `FileDiscovery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileDiscovery {
    /// A kubeconfig file (or https URL) naming the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config_path: Option<String>,
}
