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
                let lines = import_phase(&data.bundle, &data.cfg.cri_socket, data.options.dry_run).await?;
                data.say(lines)
            })
        })
}
