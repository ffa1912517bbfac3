//! `etcd-join` and `control-plane-join` phases of join (kubeadm:
//! cmd/kubeadm/app/cmd/phases/join/controlplanejoin.go): this node's etcd member added to the
//! stacked cluster as a learner, its static Pod written, the learner promoted once it has
//! started (`CreateStackedEtcdStaticPodManifestFile`); then the control-plane label and taints.
//! `etcd-join` runs with `ControlPlaneKubeletLocalMode` (on from v1.33), `control-plane-join
//! etcd` without it.

use std::time::Duration;

use anyhow::Context as _;

use super::JoinData;
use crate::kubeadm::etcd_cluster::EtcdCluster;
use crate::kubeadm::{api, staticpod};
use crate::phases::client::retrying;
use crate::workflow::Phase;

use super::kubelet::LOCAL_MODE;
/// kubeadm's `etcdHealthyCheckInterval` and `etcdHealthyCheckRetries`.
const HEALTHY_INTERVAL: Duration = Duration::from_secs(5);
const HEALTHY_RETRIES: u32 = 8;

/// kubeadm's `getControlPlaneJoinPhaseFlags`.
fn flags(name: &str) -> Vec<&'static str> {
    let mut flags = vec!["config", "control-plane", "node-name"];
    if name == "etcd" || name == "all" {
        flags.push("patches");
    }
    if name != "mark-control-plane" {
        flags.push("apiserver-advertise-address");
    }
    flags.push("dry-run");
    flags
}

/// `etcd-join`.
pub(super) fn etcd_join_phase() -> Phase<JoinData> {
    Phase::new(
        "etcd-join",
        format!("[EXPERIMENTAL] Join etcd for control plane nodes (only used when feature gate {LOCAL_MODE} is enabled)"),
    )
    .example("  # Joins etcd for a control plane instance\n  airadm join phase control-plane-join-etcd all")
    .inherit(&flags("etcd"))
    .run(|data: &mut JoinData| Box::pin(etcd_if(data, true)))
}

/// `control-plane-join`.
pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("control-plane-join", "Join a machine as a control plane instance")
        .example("  # Joins a machine as a control plane instance\n  airadm join phase control-plane-join all")
        .phases(vec![
            Phase::all("Join a machine as a control plane instance", &flags("all")),
            Phase::new("etcd", "Add a new local etcd member")
                .inherit(&flags("etcd"))
                .run(|data: &mut JoinData| Box::pin(etcd_if(data, false))),
            Phase::new("mark-control-plane", "Mark a node as a control-plane")
                .inherit(&flags("mark-control-plane"))
                .run(|data: &mut JoinData| Box::pin(mark_control_plane(data))),
        ])
}

/// kubeadm's `RunIf: checkFeatureState(c, ControlPlaneKubeletLocalMode, local_mode)`.
async fn etcd_if(data: &mut JoinData, local_mode: bool) -> anyhow::Result<()> {
    if data.init_cfg().await?.feature(LOCAL_MODE) != local_mode {
        return Ok(());
    }
    etcd(data).await
}

/// kubeadm's `runEtcdPhase`.
async fn etcd(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let client = data.client().await.context("couldn't create Kubernetes client")?;
    let cfg = data.init_cfg().await?;
    let Some(local) = cfg.local_etcd() else {
        return data.say(vec!["[control-plane-join] Using external etcd - no local stacked instance added".into()]);
    };
    let peer_url = staticpod::etcd_peer_url(&cfg);
    let dry_run = data.options.dry_run;
    let mut members = Vec::new();
    let mut cluster = None;
    if dry_run {
        let dir = local.data_dir.as_deref().unwrap_or(crate::kubeadm::config::defaults::ETCD_DATA_DIR);
        data.say(vec![
            format!("[control-plane-join] Would ensure that {dir:?} directory is present"),
            format!("[etcd] Would add etcd member: {peer_url}"),
        ])?;
    } else {
        let mut etcd = EtcdCluster::from_cluster(&client, &data.root, &cfg.cert_dir, cfg.kubernetes_api_call_timeout).await?;
        members = etcd.add_learner(&cfg.node_name, &peer_url, data.cfg.etcd_api_call_timeout).await?;
        data.say(vec!["[etcd] Announced new etcd member joining to the existing etcd cluster".into()])?;
        cluster = Some(etcd);
    }
    data.say(staticpod::write_joining_etcd(&cfg, &data.root, &members).context("error creating local etcd static pod manifest file")?)?;
    let Some(etcd) = cluster else {
        return data.say(vec!["[etcd] Would wait for the new etcd member to join the cluster".into()]);
    };
    let timeout = data.cfg.etcd_api_call_timeout;
    let id = etcd.member_id(&peer_url, timeout).await?;
    etcd.promote(id, timeout).await?;
    data.say(vec![format!(
        "[etcd] Waiting for the new etcd member to join the cluster. This can take up to {}",
        crate::kubeadm::wait::go_duration(HEALTHY_INTERVAL * HEALTHY_RETRIES)
    )])?;
    etcd.wait_available(HEALTHY_RETRIES, HEALTHY_INTERVAL, timeout).await
}

/// kubeadm's `runMarkControlPlanePhase`.
async fn mark_control_plane(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let client = data.client().await.context("couldn't create Kubernetes client")?;
    let cfg = data.init_cfg().await?;
    if data.options.dry_run {
        return data.say(vec![format!("[control-plane-join] Would mark node {} as a control-plane", cfg.node_name)]);
    }
    let lines = retrying(&cfg, || api::mark_control_plane(&client, &cfg.node_name, &cfg.taints))
        .await
        .context("error applying control-plane label and taints")?;
    data.say(lines)
}
