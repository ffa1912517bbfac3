//! `binaries` phase (airadm's own, after `import`): install the bundle's node binaries (kubelet,
//! kubectl, kubeadm, crictl, CNI plugins, airadm) and the kubelet unit: those `import` staged in
//! its verifying pass, or, when `import` did not run, from a pass of its own.

use super::InitData;
use crate::phases::bundle::binaries_phase;
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("binaries", "Install the bundle's kubelet, kubectl, kubeadm, crictl and CNI plugins (airadm)")
        .inherit(&["bin-dir", "force-binaries", "dry-run"])
        .run(|data: &mut InitData| {
            let placement = data.binaries_placement();
            ready(binaries_phase(&mut data.bundle, &placement).and_then(|lines| data.say(lines)))
        })
}
