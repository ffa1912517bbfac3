//! kubeadm's configuration types (`kubeadm.k8s.io/v1beta4`), shared by the builder, which
//! pre-renders `configs/kubeadm-config.yaml` into every bundle, and the installer, which reads
//! users' config files. Field names and shapes follow kubeadm's v1beta4 `types.go`; only the
//! fields airadm sets or reads are modelled so far.

use serde::{Deserialize, Serialize};

/// `apiVersion` of the v1beta4 kubeadm config API.
pub const API_VERSION_V1BETA4: &str = "kubeadm.k8s.io/v1beta4";

/// kubeadm's `InitConfiguration`: node-local settings for `init`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    /// Always [`API_VERSION_V1BETA4`].
    pub api_version: String,
    /// Always `InitConfiguration`.
    pub kind: String,
    /// How this node registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_registration: Option<NodeRegistrationOptions>,
}

/// kubeadm's `NodeRegistrationOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRegistrationOptions {
    /// CRI socket URL (`unix:///run/containerd/containerd.sock`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_socket: Option<String>,
    /// `Always`, `IfNotPresent` or `Never`; bundles use `IfNotPresent` so nothing is pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
}

/// kubeadm's `ClusterConfiguration`: cluster-wide settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    /// Always [`API_VERSION_V1BETA4`].
    pub api_version: String,
    /// Always `ClusterConfiguration`.
    pub kind: String,
    /// `v1.31.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Where the control-plane images are named from (`registry.k8s.io`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// etcd settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Etcd>,
    /// CoreDNS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
}

/// kubeadm's `Etcd`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Etcd {
    /// A stacked etcd run by kubeadm as a static Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalEtcd>,
}

/// kubeadm's `LocalEtcd`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalEtcd {
    /// Image repository override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// Image tag override (`3.5.15-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
}

/// kubeadm's `DNS`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dns {
    /// Image repository override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_repository: Option<String>,
    /// Image tag override (`v1.11.3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
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
