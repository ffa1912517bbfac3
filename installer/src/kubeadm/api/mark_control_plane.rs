//! `mark-control-plane` (kubeadm: cmd/kubeadm/app/phases/markcontrolplane/markcontrolplane.go,
//! util/apiclient/idempotency.go `PatchNodeOnce`): GET the Node, add the control-plane labels and
//! `nodeRegistration.taints` (keeping the node's other taints), PATCH the difference as a
//! strategic merge patch.

use bundle::kubeadm::Taint;
use k8s_openapi::api::core::v1::{Node, Taint as NodeTaint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

use super::{ApiError, request_error};

/// `labelsToAdd` (v1.24+): `LabelNodeRoleControlPlane`, `LabelExcludeFromExternalLB`.
pub const CONTROL_PLANE_LABELS: [&str; 2] =
    ["node-role.kubernetes.io/control-plane", "node.kubernetes.io/exclude-from-external-load-balancers"];

/// Go's `v1.Taint.ToString()`: `key[=value]:effect`.
pub fn taint_string(taint: &Taint) -> String {
    let value = taint.value.as_deref().unwrap_or_default();
    match (value.is_empty(), taint.effect.is_empty()) {
        (true, true) => taint.key.clone(),
        (false, true) => format!("{}={value}:", taint.key),
        (true, false) => format!("{}:{}", taint.key, taint.effect),
        (false, false) => format!("{}={value}:{}", taint.key, taint.effect),
    }
}

/// The lines kubeadm prints before patching.
pub fn mark_control_plane_lines(node_name: &str, taints: &[Taint]) -> Vec<String> {
    let mut out = vec![format!(
        "[mark-control-plane] Marking the node {node_name} as control-plane by adding the labels: [{}]",
        CONTROL_PLANE_LABELS.join(" ")
    )];
    if !taints.is_empty() {
        let taints: Vec<String> = taints.iter().map(taint_string).collect();
        out.push(format!("[mark-control-plane] Marking the node {node_name} as control-plane by adding the taints [{}]", taints.join(" ")));
    }
    out
}

fn node_taint(taint: &Taint) -> NodeTaint {
    NodeTaint {
        key: taint.key.clone(),
        value: taint.value.clone().filter(|v| !v.is_empty()),
        effect: taint.effect.clone(),
        // config::resolve refused a timeAdded that does not parse.
        time_added: taint.time_added.as_deref().and_then(|t| serde_json::from_value::<Time>(json!(t)).ok()),
    }
}

/// `markControlPlaneNode` then `CreateTwoWayMergePatch(old, new, v1.Node{})`: the labels that
/// change, and the whole `spec.taints` list (it has no merge key) when it changes. `{}` when
/// nothing changes (kubeadm still sends it).
pub fn mark_control_plane_patch(node: &Node, taints: &[Taint]) -> Value {
    let mut patch = Map::new();
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let added: Map<String, Value> =
        CONTROL_PLANE_LABELS.iter().filter(|l| labels.get(**l).is_none_or(|v| !v.is_empty())).map(|l| (l.to_string(), json!(""))).collect();
    if !added.is_empty() {
        patch.insert("metadata".into(), json!({ "labels": added }));
    }
    let existing = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let mut wanted: Vec<NodeTaint> = taints.iter().map(node_taint).collect();
    for taint in &existing {
        if !wanted.contains(taint) {
            wanted.push(taint.clone());
        }
    }
    if wanted != existing {
        patch.insert("spec".into(), json!({ "taints": wanted }));
    }
    Value::Object(patch)
}

/// The `mark-control-plane` phase. kubeadm polls until the Node has its hostname label; this GETs
/// once, so call it after the kubelet registered the node.
pub async fn mark_control_plane(client: &Client, node_name: &str, taints: &[Taint]) -> Result<Vec<String>, ApiError> {
    let out = mark_control_plane_lines(node_name, taints);
    let api: Api<Node> = Api::all(client.clone());
    let meta = ObjectMeta { name: Some(node_name.into()), ..Default::default() };
    let node = api.get(node_name).await.map_err(|e| request_error::<Node>("get", &meta, e))?;
    let patch = mark_control_plane_patch(&node, taints);
    api.patch(node_name, &PatchParams::default(), &Patch::Strategic(&patch)).await.map_err(|e| request_error::<Node>("patch", &meta, e))?;
    Ok(out)
}
