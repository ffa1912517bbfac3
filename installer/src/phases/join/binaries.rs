//! `binaries` phase of join (airadm's own, after `import`): verify the whole bundle again and
//! install its node binaries and the kubelet unit.

use super::JoinData;
use crate::phases::bundle::binaries_phase;
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("binaries", "Install the bundle's kubelet, kubectl, kubeadm, crictl and CNI plugins (airadm)")
        .inherit(&["bin-dir", "force-binaries", "dry-run"])
        .run(|data: &mut JoinData| {
            let o = &data.options;
            ready(binaries_phase(&data.bundle, &data.node, &o.bin_dir, o.force_binaries, o.dry_run).and_then(|lines| data.say(lines)))
        })
}
