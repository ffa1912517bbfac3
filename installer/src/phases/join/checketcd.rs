//! `check-etcd` phase of join (kubeadm: cmd/kubeadm/app/cmd/phases/join/checketcd.go), hidden:
//! before a control plane joins, the stacked etcd cluster must be healthy.

use anyhow::Context as _;

use super::JoinData;
use crate::kubeadm::etcd_cluster::EtcdCluster;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("check-etcd", "").hidden().run(|data: &mut JoinData| Box::pin(run(data)))
}

/// kubeadm's `runCheckEtcdPhase` (`CheckLocalEtcdClusterStatus`).
async fn run(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let cfg = data.init_cfg().await?;
    if cfg.local_etcd().is_none() {
        return data.say(vec!["[check-etcd] Skipping etcd check in external mode".into()]);
    }
    if data.options.dry_run {
        return data.say(vec!["[dryrun] Would check that the etcd cluster is healthy".into()]);
    }
    data.say(vec!["[check-etcd] Checking that the etcd cluster is healthy".into()])?;
    let client = data.client().await?;
    let etcd = EtcdCluster::from_cluster(&client, &data.root, &cfg.cert_dir, cfg.kubernetes_api_call_timeout).await?;
    etcd.check_health(data.cfg.etcd_api_call_timeout).await.context("etcd cluster is not healthy")
}
