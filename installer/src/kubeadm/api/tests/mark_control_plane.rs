//! `mark-control-plane`: the Node patch of labels and taints, and Go's taint strings.

use serde_json::json;

use super::*;

fn taint(key: &str, value: Option<&str>, effect: &str) -> bundle::kubeadm::Taint {
    bundle::kubeadm::Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
}

#[tokio::test]
async fn mark_control_plane_patches_labels_and_taints_keeping_existing_ones() {
    let taints = [taint("node-role.kubernetes.io/control-plane", None, "NoSchedule")];
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}});
    let patch = json!({
        "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
        "spec": {"taints": [
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}});
    let steps = vec![
        step("GET", "/api/v1/nodes/node-1", None, 200, Some(node.clone())),
        step("PATCH", "/api/v1/nodes/node-1?", Some(patch), 200, Some(node)),
    ];
    let lines = scenario(steps, |c| async move { mark_control_plane(&c, "node-1", &taints).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[mark-control-plane] Marking the node node-1 as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]",
            "[mark-control-plane] Marking the node node-1 as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]",
        ]
    );
}

#[tokio::test]
async fn mark_control_plane_sends_an_empty_patch_when_already_marked_and_names_a_missing_node() {
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}}});
    let steps = vec![
        step("GET", "/api/v1/nodes/n", None, 200, Some(node.clone())),
        step("PATCH", "/api/v1/nodes/n?", Some(json!({})), 200, Some(node)),
    ];
    let lines = scenario(steps, |c| async move { mark_control_plane(&c, "n", &[]).await }).await.unwrap();
    assert_eq!(lines.len(), 1, "no taints line without taints");
    let steps = vec![step("GET", "/api/v1/nodes/n", None, 404, status(404, "NotFound"))];
    let err = scenario(steps, |c| async move { mark_control_plane(&c, "n", &[]).await }).await.unwrap_err();
    assert_eq!(err.to_string(), "unable to get Node \"n\"");
}

#[test]
fn taint_strings_are_gos_taint_to_string() {
    assert_eq!(taint_string(&taint("k", None, "NoSchedule")), "k:NoSchedule");
    assert_eq!(taint_string(&taint("k", Some("v"), "NoExecute")), "k=v:NoExecute");
    assert_eq!(taint_string(&taint("k", Some("v"), "")), "k=v:");
    assert_eq!(taint_string(&taint("k", None, "")), "k");
}
