//! `kubelet-finalize` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/kubeletfinalize.go): once
//! the kubelet's TLS bootstrap is done, kubelet.conf points at its rotating client certificate.

use super::InitData;
use crate::kubeadm::{api, initsystem};
use crate::workflow::{Phase, ready};

const FLAGS: &[&str] = &["config", "cert-dir", "dry-run"];
const EXAMPLE: &str = "  # Updates settings relevant to the kubelet after TLS bootstrap\n  airadm init phase kubelet-finalize all --config";

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("kubelet-finalize", "Updates settings relevant to the kubelet after TLS bootstrap").example(EXAMPLE).phases(vec![
        Phase::all("Run all kubelet-finalize phases", FLAGS).example(EXAMPLE),
        super::api(
            "kubelet-finalize/enable-client-cert-rotation",
            Phase::new("enable-client-cert-rotation", "Enable kubelet client certificate rotation").inherit(FLAGS),
        )
        .run(|data: &mut InitData| ready(run_enable_client_cert_rotation(data))),
    ])
}

/// kubeadm's `runKubeletFinalizeEnableClientCertRotation`: rewrite kubelet.conf, restart the kubelet.
fn run_enable_client_cert_rotation(data: &mut InitData) -> anyhow::Result<()> {
    let lines = api::enable_client_cert_rotation(&data.cfg, &data.root)?;
    let rotated = !lines.is_empty();
    data.say(lines)?;
    if rotated {
        data.say(initsystem::kubelet(&data.root, initsystem::Kubelet::Restart))?;
    }
    Ok(())
}
