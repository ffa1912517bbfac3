//! `remove-etcd-member` phase of reset (kubeadm: cmd/phases/reset/removeetcdmember.go): on a
//! control-plane node with a stacked etcd, its member leaves the cluster (when the cluster
//! answered), and the etcd data directory is emptied.

use super::ResetData;
use super::data::warn;
use crate::kubeadm::etcd_cluster::{self, Removal};
use crate::kubeadm::reset::{DEFAULT_ETCD_DATA_DIR, MANIFESTS_DIR, etcd_data_dir_from_manifest};
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<ResetData> {
    Phase::new("remove-etcd-member", "Remove a local etcd member.")
        .long("Remove a local etcd member for a control plane node.")
        .inherit(&["kubeconfig", "dry-run"])
        .run(|data: &mut ResetData| Box::pin(run(data)))
}

async fn run(data: &mut ResetData) -> anyhow::Result<()> {
    let manifest_path = format!("{MANIFESTS_DIR}/etcd.yaml");
    let manifest = data.node.read(&manifest_path)?.map(|b| String::from_utf8_lossy(&b).into_owned());
    // kubeadm's getEtcdDataDir: the cluster's local etcd, else the manifest's etcd-data volume,
    // else (no manifest) the default.
    let data_dir = match (data.cluster.as_ref().and_then(|c| c.etcd_data_dir.clone()), &manifest) {
        (Some(dir), _) => Some(dir),
        (None, None) => Some(DEFAULT_ETCD_DATA_DIR.to_owned()),
        (None, Some(text)) => {
            warn("[reset] No kubeadm config, using etcd pod spec to get data directory")?;
            etcd_data_dir_from_manifest(text)
        }
    };
    let Some(data_dir) = data_dir else {
        return data.say(vec![
            "[reset] No etcd config found. Assuming external etcd".into(),
            "[reset] Please, manually reset etcd to prevent further issues".into(),
        ]);
    };
    data.node.check("the etcd data directory", &data_dir)?;
    if data.cluster.is_some() {
        if data.cfg.dry_run {
            return data.say(vec![
                "[dryrun] Would remove the etcd member on this node from the etcd cluster".into(),
                format!("[dryrun] Would delete contents of the etcd data directory: {data_dir}"),
            ]);
        }
        if let Err(e) = remove_member(data, manifest.as_deref()).await {
            warn(&format!("[reset] Failed to remove etcd member: {e:#}, please manually remove this etcd member using etcdctl"))?;
        }
    }
    if !data.cfg.dry_run && data.node.dir_has_entries(&data_dir)? {
        match data.node.clean_dir(&data_dir) {
            Ok(_) => data.say(vec![format!("[reset] Deleted contents of the etcd data directory: {data_dir}")])?,
            Err(e) => warn(&format!("[reset] Failed to delete contents of the etcd directory: {data_dir:?}, error: {e}"))?,
        }
    }
    Ok(())
}

/// This node's member leaves the cluster (kubeadm's `RemoveStackedEtcdMemberFromCluster`).
async fn remove_member(data: &ResetData, manifest: Option<&str>) -> anyhow::Result<()> {
    let client = data.client.as_ref().ok_or_else(|| anyhow::anyhow!("no cluster client"))?;
    let local = manifest
        .and_then(etcd_cluster::local_member)
        .ok_or_else(|| anyhow::anyhow!("{MANIFESTS_DIR}/etcd.yaml does not say this node's etcd URLs"))?;
    let endpoints = etcd_cluster::endpoints(client).await?;
    let mut etcd = etcd_cluster::connect(&data.node, &data.cfg.certificates_dir, &endpoints).await?;
    match etcd_cluster::remove_member(&mut etcd, &endpoints, &local).await? {
        Removal::LastMember => tracing::info!("[etcd] This is the only remaining etcd member in the etcd cluster, skip removing it"),
        // kubeadm says nothing either way (klog V(1)).
        Removal::Removed { id, left } => tracing::info!("[etcd] removed etcd member {id:x} ({}); {left} left", local.peer_url),
        Removal::AlreadyGone => {
            tracing::info!("[etcd] member was already removed, because no member id exists for peer {}", local.peer_url)
        }
    }
    Ok(())
}
