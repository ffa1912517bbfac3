//! `upload-config` (kubeadm: cmd/kubeadm/app/phases/uploadconfig/uploadconfig.go and
//! phases/kubelet/config.go): the `kubeadm-config` and `kubelet-config` ConfigMaps in
//! kube-system, each with the Role/RoleBinding that lets joining nodes read it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{
    ApiError, KUBE_SYSTEM, NODE_BOOTSTRAP_TOKEN_GROUP, NODES_GROUP, apply_read_access, create_or_update, group, meta, read_access, reason,
    request_error,
};
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::yaml::to_yaml;

/// `KubeadmConfigConfigMap`.
pub const KUBEADM_CONFIG: &str = "kubeadm-config";
/// `ClusterConfigurationConfigMapKey`.
pub const CLUSTER_CONFIGURATION_KEY: &str = "ClusterConfiguration";
/// `NodesKubeadmConfigClusterRoleName` (a Role and a RoleBinding in kube-system).
pub const NODES_KUBEADM_CONFIG: &str = "kubeadm:nodes-kubeadm-config";
/// `KubeletBaseConfigurationConfigMap`.
pub const KUBELET_CONFIG: &str = "kubelet-config";
/// `KubeletBaseConfigurationConfigMapKey`.
pub const KUBELET_CONFIG_KEY: &str = "kubelet";
/// `KubeletBaseConfigMapRole` (a Role and a RoleBinding in kube-system).
pub const KUBELET_CONFIG_ROLE: &str = "kubeadm:kubelet-config";
/// `ComponentConfigHashAnnotationKey`.
pub const COMPONENT_CONFIG_HASH: &str = "kubeadm.kubernetes.io/component-config.hash";

/// ConfigMap `kubeadm-config`: the defaulted v1beta4 `ClusterConfiguration`, as kubeadm marshals it.
pub fn kubeadm_config_map(cfg: &InitConfig) -> Result<ConfigMap, serde_json::Error> {
    let document = serde_json::to_value(&cfg.cluster_document)?;
    let document =
        to_yaml(&crate::kubeadm::skeleton::dress(cfg.version.minor, crate::kubeadm::skeleton::Kind::ClusterConfiguration, &document));
    Ok(ConfigMap {
        metadata: meta(Some(KUBE_SYSTEM), KUBEADM_CONFIG),
        data: Some(BTreeMap::from([(CLUSTER_CONFIGURATION_KEY.into(), document)])),
        ..Default::default()
    })
}

/// Role + RoleBinding `kubeadm:nodes-kubeadm-config`: bootstrap tokens and nodes may read
/// `kubeadm-config`.
pub fn kubeadm_config_access() -> (Role, RoleBinding) {
    let subjects = vec![group(NODE_BOOTSTRAP_TOKEN_GROUP), group(NODES_GROUP)];
    read_access(KUBE_SYSTEM, NODES_KUBEADM_CONFIG, "configmaps", KUBEADM_CONFIG, subjects)
}

/// ConfigMap `kubelet-config` with the cluster-wide `KubeletConfiguration` (`document`, as
/// [`crate::kubeadm::kubelet::config`] makes it). kubeadm signs it with
/// `component-config.hash` unless the user supplied the document (`componentconfigs.SignConfigMap`:
/// `sha256:` + hex of the sha256 of the data values in key order).
pub fn kubelet_config_map(document: &Value, user_supplied: bool) -> ConfigMap {
    let mut map = ConfigMap {
        metadata: meta(Some(KUBE_SYSTEM), KUBELET_CONFIG),
        data: Some(BTreeMap::from([(KUBELET_CONFIG_KEY.into(), to_yaml(document))])),
        ..Default::default()
    };
    if !user_supplied {
        let hash = config_map_checksum(&map);
        map.metadata.annotations = Some(BTreeMap::from([(COMPONENT_CONFIG_HASH.into(), hash)]));
    }
    map
}

/// `componentconfigs.ChecksumForConfigMap`: sha256 over `data` values then `binaryData` values,
/// each in key order.
pub fn config_map_checksum(map: &ConfigMap) -> String {
    let mut hash = Sha256::new();
    for value in map.data.iter().flat_map(|d| d.values()) {
        hash.update(value.as_bytes());
    }
    for value in map.binary_data.iter().flat_map(|d| d.values()) {
        hash.update(&value.0);
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// Role + RoleBinding `kubeadm:kubelet-config`: nodes and bootstrap tokens may read `kubelet-config`.
pub fn kubelet_config_access() -> (Role, RoleBinding) {
    let subjects = vec![group(NODES_GROUP), group(NODE_BOOTSTRAP_TOKEN_GROUP)];
    read_access(KUBE_SYSTEM, KUBELET_CONFIG_ROLE, "configmaps", KUBELET_CONFIG, subjects)
}

/// `upload-config/kubeadm`.
pub async fn upload_kubeadm_config(client: &Client, cfg: &InitConfig) -> Result<Vec<String>, ApiError> {
    let map = kubeadm_config_map(cfg).map_err(|e| ApiError::Invalid { path: "ClusterConfiguration".into(), reason: e.to_string() })?;
    create_or_mutate(client, &map, CLUSTER_CONFIGURATION_KEY).await?;
    apply_read_access(client, kubeadm_config_access()).await?;
    Ok(vec![format!("[upload-config] Storing the configuration used in ConfigMap {KUBEADM_CONFIG:?} in the {KUBE_SYSTEM:?} Namespace")])
}

/// `apiclient.CreateOrMutateConfigMap` as uploadconfig.go uses it: POST; on `AlreadyExists`,
/// GET the stored ConfigMap, set `key` to ours (other keys and metadata kept), PUT it back.
async fn create_or_mutate(client: &Client, map: &ConfigMap, key: &str) -> Result<(), ApiError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let name = map.metadata.name.as_deref().unwrap_or_default();
    match api.create(&PostParams::default(), map).await {
        Ok(_) => Ok(()),
        Err(e) if reason(&e) == Some("AlreadyExists") => {
            let mut stored = api.get(name).await.map_err(|e| request_error::<ConfigMap>("get", &map.metadata, e))?;
            let value = map.data.as_ref().and_then(|d| d.get(key)).cloned().unwrap_or_default();
            stored.data.get_or_insert_with(BTreeMap::new).insert(key.into(), value);
            api.replace(name, &PostParams::default(), &stored)
                .await
                .map(drop)
                .map_err(|e| request_error::<ConfigMap>("update", &map.metadata, e))
        }
        Err(e) => Err(request_error::<ConfigMap>("create", &map.metadata, e)),
    }
}

/// `upload-config/kubelet`: `document` is the `KubeletConfiguration` kubelet-start wrote.
pub async fn upload_kubelet_config(client: &Client, document: &Value, user_supplied: bool) -> Result<Vec<String>, ApiError> {
    create_or_update(&Api::namespaced(client.clone(), KUBE_SYSTEM), &kubelet_config_map(document, user_supplied)).await?;
    apply_read_access(client, kubelet_config_access()).await?;
    Ok(vec![format!(
        "[kubelet] Creating a ConfigMap {KUBELET_CONFIG:?} in namespace {KUBE_SYSTEM} with the configuration for the kubelets in the cluster"
    )])
}
