//! `mark-control-plane` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/markcontrolplane.go):
//! the control-plane label and taints on this node.

use super::InitData;
use crate::kubeadm::api;
use crate::phases::client::retrying;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    super::api("mark-control-plane", Phase::new("mark-control-plane", "Mark a node as a control-plane").inherit(&["node-name", "config", "dry-run"]))
        .example("  # Applies control-plane label and taint to the current node, functionally equivalent to what executed by kubeadm init.\n  airadm init phase mark-control-plane --config config.yaml")
        .run(|data: &mut InitData| Box::pin(run(data)))
}

async fn run(data: &mut InitData) -> anyhow::Result<()> {
    // The kubelet registers the Node shortly after the API server is up.
    let client = data.client().await?;
    let cfg = &data.cfg;
    data.say(retrying(cfg, || api::mark_control_plane(&client, &cfg.node_name, &cfg.taints)).await?)
}
