//! `wait-control-plane` phase of join (kubeadm: cmd/kubeadm/app/cmd/phases/join/waitcontrolplane.go):
//! a joining control plane's own components, healthy (with `WaitForAllControlPlaneComponents`, on
//! from v1.33).

use super::JoinData;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("wait-control-plane", "Wait for the control plane to start").run(|data: &mut JoinData| Box::pin(run(data)))
}

/// kubeadm's `runWaitControlPlanePhase`.
async fn run(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let cfg = data.init_cfg().await?;
    // Before v1.33 the gate is off by default, and the phase then skips silently (klog V(5)).
    if !cfg.feature("WaitForAllControlPlaneComponents") {
        return Ok(());
    }
    if data.options.dry_run {
        return data.say(vec!["[dryrun] Would wait for the control plane components to be healthy".into()]);
    }
    let say = |lines: Vec<String>| data.say(lines);
    let address = cfg.advertise_address.to_string();
    crate::phases::wait::control_plane_components(&data.root, &address, cfg.bind_port, data.cfg.control_plane_health_timeout, &say).await
}
