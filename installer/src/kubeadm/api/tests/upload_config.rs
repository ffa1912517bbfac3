//! `upload-config`: the kubeadm-config and kubelet-config ConfigMaps and their RBAC, created or
//! updated as kubeadm does.

use serde_json::json;

use super::*;
use crate::kubeadm::certs::tests::config_with;
use crate::kubeadm::config::InitFlags;

#[tokio::test]
async fn upload_kubeadm_config_creates_the_config_map_then_its_role_and_binding() {
    let cfg = config_with(InitFlags::default(), None);
    let map = kubeadm_config_map(&cfg).unwrap();
    let (role, binding) = kubeadm_config_access();
    assert_eq!(
        json_of(&role)["rules"],
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"]}])
    );
    assert_eq!(
        json_of(&binding)["subjects"],
        json!([{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}, {"kind": "Group", "name": "system:nodes"}])
    );
    assert!(map.data.as_ref().unwrap()["ClusterConfiguration"].contains("kind: ClusterConfiguration\n"));
    let steps = vec![post(CM, json_of(&map)), post(ROLES, json_of(&role)), post(BINDINGS, json_of(&binding))];
    let lines = scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap();
    assert_eq!(lines, ["[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace"]);
}

#[tokio::test]
async fn upload_kubeadm_config_mutates_the_stored_config_map_and_replaces_existing_rbac() {
    let cfg = config_with(InitFlags::default(), None);
    let map = kubeadm_config_map(&cfg).unwrap();
    let (role, binding) = kubeadm_config_access();
    let stored = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system", "resourceVersion": "7"},
        "data": {"ClusterConfiguration": "old", "Other": "kept"}});
    let mut mutated = stored.clone();
    mutated["data"]["ClusterConfiguration"] = json_of(&map)["data"]["ClusterConfiguration"].clone();
    let steps = vec![
        step("POST", format!("{CM}?"), None, 409, status(409, "AlreadyExists")),
        step("GET", format!("{CM}/kubeadm-config"), None, 200, Some(stored)),
        step("PUT", format!("{CM}/kubeadm-config?"), Some(mutated), 200, None),
        step("POST", format!("{ROLES}?"), None, 409, status(409, "AlreadyExists")),
        step("PUT", format!("{ROLES}/kubeadm:nodes-kubeadm-config?"), Some(json_of(&role)), 200, None),
        post(BINDINGS, json_of(&binding)),
    ];
    scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap();
}

#[tokio::test]
async fn upload_kubeadm_config_error_names_the_object() {
    let cfg = config_with(InitFlags::default(), None);
    let steps = vec![step("POST", format!("{CM}?"), None, 500, status(500, "InternalError"))];
    let err = scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap_err();
    assert_eq!(err.to_string(), "unable to create ConfigMap \"kube-system/kubeadm-config\"");
}

#[tokio::test]
async fn upload_kubelet_config_signs_the_config_map_and_replaces_on_already_exists() {
    let document = json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "rotateCertificates": true});
    let map = kubelet_config_map(&document, false);
    let yaml = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\n";
    let hash = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(yaml)));
    assert_eq!(json_of(&map)["data"]["kubelet"], yaml);
    assert_eq!(json_of(&map)["metadata"]["annotations"]["kubeadm.kubernetes.io/component-config.hash"], hash.as_str());
    assert!(kubelet_config_map(&document, true).metadata.annotations.is_none(), "user-supplied configs are not signed");
    let (role, binding) = kubelet_config_access();
    assert_eq!(json_of(&role)["rules"][0]["resourceNames"], json!(["kubelet-config"]));
    let steps = vec![
        step("POST", format!("{CM}?"), None, 409, status(409, "AlreadyExists")),
        step("PUT", format!("{CM}/kubelet-config?"), Some(json_of(&map)), 200, None),
        post(ROLES, json_of(&role)),
        post(BINDINGS, json_of(&binding)),
    ];
    let lines = scenario(steps, |c| async move { upload_kubelet_config(&c, &document, false).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster"
        ]
    );
}
