//! `binaries` phase (airadm's own, after `import`): verify the whole bundle again and install
//! its node binaries (kubelet, kubectl, kubeadm, crictl, CNI plugins, airadm) and the kubelet unit.

use super::InitData;
use super::bundle_phases::binaries_phase;
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("binaries", "Install the bundle's kubelet, kubectl, kubeadm, crictl and CNI plugins (airadm)")
        .inherit(&["bin-dir", "force-binaries", "dry-run"])
        .run(|data: &mut InitData| ready(binaries_phase(&data.options, &data.node, &data.bundle).and_then(|lines| data.say(lines))))
}
