//! `import` phase (airadm's own, first): verify the whole bundle and import its images into the
//! runtime behind the CRI socket, as `airadm images import` does (dry run: verify only).

use super::InitData;
use crate::phases::bundle::import_phase;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("import", "Verify the bundle and import its images into the container runtime (airadm)")
        .inherit(&["config", "cri-socket", "dry-run"])
        .run(|data: &mut InitData| {
            Box::pin(async move {
                // The `binaries` phase next commits what this pass stages for it.
                let binaries = data.planned.iter().any(|p| p == "binaries").then(|| data.binaries_placement());
                let lines = import_phase(&mut data.bundle, &data.cfg.cri_socket, data.options.dry_run, binaries.as_ref()).await?;
                data.say(lines)
            })
        })
}
