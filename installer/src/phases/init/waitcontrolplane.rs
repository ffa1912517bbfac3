//! `wait-control-plane` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/waitcontrolplane.go):
//! the kubelet's healthz, then every control-plane component's (v1.33+), or the API server's
//! through admin.conf (before).

use super::InitData;
use crate::kubeadm::{config, wait};
use crate::phases::client::kube_client;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    super::api("wait-control-plane", Phase::new("wait-control-plane", "Wait for the control plane to start"))
        .run(|data: &mut InitData| Box::pin(run(data)))
}

async fn run(data: &mut InitData) -> anyhow::Result<()> {
    let cfg = &data.cfg;
    data.say(vec![
        format!(
            "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"{}\"",
            config::defaults::MANIFESTS_DIR
        ),
        format!(
            "[kubelet-check] Waiting for a healthy kubelet at http://{}/healthz. This can take up to {}",
            wait::KUBELET_HEALTHZ,
            wait::go_duration(cfg.kubelet_health_timeout)
        ),
    ])?;
    let took = wait::kubelet_healthy(wait::KUBELET_HEALTHZ.parse()?, cfg.kubelet_health_timeout, wait::POLL).await?;
    data.say(vec![format!("[kubelet-check] The kubelet is healthy after {took:?}")])?;
    if cfg.feature("WaitForAllControlPlaneComponents") {
        let say = |lines: Vec<String>| data.say(lines);
        let address = cfg.advertise_address.to_string();
        return crate::phases::wait::control_plane_components(&data.root, &address, cfg.bind_port, cfg.control_plane_health_timeout, &say)
            .await;
    }
    data.say(vec![format!(
        "[api-check] Waiting for a healthy API server. This can take up to {}",
        wait::go_duration(cfg.control_plane_health_timeout)
    )])?;
    // kubeadm's WaitControlPlaneClient: admin.conf as it is, nothing bootstrapped yet.
    let client = kube_client(&data.root, "/etc/kubernetes/admin.conf").await?;
    let took = wait::api_server_healthy(&client, cfg.control_plane_health_timeout, wait::POLL).await?;
    data.say(vec![format!("[api-check] The API server is healthy after {took:?}")])
}
