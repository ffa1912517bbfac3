//! `upload-config` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/uploadconfig.go): the
//! `kubeadm-config` and `kubelet-config` ConfigMaps and their RBAC.

use super::InitData;
use crate::kubeadm::{api, kubelet};
use crate::phases::client::retrying;
use crate::workflow::Phase;

const FLAGS: &[&str] = &["config", "cri-socket", "kubeconfig", "dry-run"];

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("upload-config", "Upload the kubeadm and kubelet configuration to a ConfigMap").aliases(&["uploadconfig"]).phases(vec![
        Phase::all("Upload all configuration to a config map", FLAGS),
        super::api("upload-config/kubeadm", Phase::new("kubeadm", "Upload the kubeadm ClusterConfiguration to a ConfigMap").inherit(FLAGS))
            .run(|data: &mut InitData| Box::pin(run_kubeadm(data))),
        super::api("upload-config/kubelet", Phase::new("kubelet", "Upload the kubelet component config to a ConfigMap").inherit(FLAGS))
            .run(|data: &mut InitData| Box::pin(run_kubelet(data))),
    ])
}

async fn run_kubeadm(data: &mut InitData) -> anyhow::Result<()> {
    let client = data.client().await?;
    let cfg = &data.cfg;
    data.say(retrying(cfg, || api::upload_kubeadm_config(&client, cfg)).await?)
}

async fn run_kubelet(data: &mut InitData) -> anyhow::Result<()> {
    let client = data.client().await?;
    let cfg = &data.cfg;
    // kubeadm v1.37 keeps the node's own mutation (resolvConf) out of the cluster-wide
    // ConfigMap (phases/kubelet/config.go deep-copies before Mutate).
    let resolved = data.root.exists(kubelet::SYSTEMD_RESOLV_CONF) && !cfg.version.at_least(37);
    let (document, _) = kubelet::config(cfg, resolved)?;
    data.say(retrying(cfg, || api::upload_kubelet_config(&client, &document, cfg.kubelet_configuration.is_some())).await?)
}
