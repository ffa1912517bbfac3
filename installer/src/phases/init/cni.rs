//! `cni` phase (airadm's own, after `addon`): the node's default pod network
//! ([`crate::phases::cni`]); `--skip-phases=cni` leaves it to a network add-on, as kubeadm does.

use super::InitData;
use crate::phases::cni::{self, Request};
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("cni", "Write the node's default pod network: the bundle's bridge CNI plugins for its pod CIDRs")
        .example(
            "  # Writes /etc/cni/net.d/10-airadm.conflist once the node has its pod CIDRs\n  airadm init phase cni --config config.yaml",
        )
        .inherit(&["config", "dry-run", "pod-network-cidr"])
        .run(|data: &mut InitData| Box::pin(run(data)))
}

async fn run(data: &mut InitData) -> anyhow::Result<()> {
    let cfg = &data.cfg;
    let request = Request { root: &data.root, node: &cfg.node_name, pod_subnet: cfg.pod_subnet.as_deref(), dry_run: data.options.dry_run };
    cni::run(request, &|lines| data.say(lines)).await
}
