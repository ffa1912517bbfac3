//! `binaries` phase of join (airadm's own, after `import`): install the bundle's node binaries
//! and the kubelet unit: those `import` staged in its verifying pass, or, when `import` did not
//! run, from a pass of its own.

use super::JoinData;
use crate::phases::bundle::{BinariesPlacement, binaries_phase};
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("binaries", "Install the bundle's kubelet, kubectl, kubeadm, crictl and CNI plugins (airadm)")
        .inherit(&["bin-dir", "force-binaries", "dry-run"])
        .run(|data: &mut JoinData| {
            let o = &data.options;
            let placement = BinariesPlacement { root: &data.node, bin_dir: &o.bin_dir, force: o.force_binaries, dry_run: o.dry_run };
            ready(binaries_phase(&mut data.bundle, &placement).and_then(|lines| data.say(lines)))
        })
}
