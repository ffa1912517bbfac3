//! `cni` phase of join (airadm's own, last): the node's default pod network
//! ([`crate::phases::cni`]) for the pod CIDRs the cluster gives it; `--skip-phases=cni` leaves it
//! to a network add-on, as kubeadm does.

use super::JoinData;
use crate::phases::cni::{self, Request};
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("cni", "Write the node's default pod network: the bundle's bridge CNI plugins for its pod CIDRs")
        .inherit(&["config", "dry-run"])
        .run(|data: &mut JoinData| Box::pin(run(data)))
}

async fn run(data: &mut JoinData) -> anyhow::Result<()> {
    let pod_subnet = data.init_cfg().await?.pod_subnet;
    let request = Request { root: &data.root, node: &data.cfg.node_name, pod_subnet: pod_subnet.as_deref(), dry_run: data.options.dry_run };
    cni::run(request, &|lines| data.say(lines)).await
}
