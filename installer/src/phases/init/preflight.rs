//! `preflight` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/preflight.go): kubeadm's init
//! checks, and the runtime's images over CRI instead of a pull.

use super::InitData;
use crate::kubeadm::preflight;
use crate::phases::bundle::cri_findings;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("preflight", "Run pre-flight checks")
        .long("Run pre-flight checks for kubeadm init.")
        .example(
            "  # Run pre-flight checks for kubeadm init using a config file.\n  airadm init phase preflight --config kubeadm-config.yaml",
        )
        .inherit(&["config", "image-repository", "cri-socket", "ignore-preflight-errors", "dry-run"])
        .run(|data: &mut InitData| {
            Box::pin(async move {
                data.say(vec!["[preflight] Running pre-flight checks".into()])?;
                let probe = preflight::HostProbe { root: &data.node, bin_dir: &data.options.bin_dir };
                let mut findings = preflight::init_checks(&data.cfg, &probe);
                findings.extend(cri_findings(&data.cfg.cri_socket, &data.bundle.manifest.images).await);
                let warnings = preflight::evaluate(&findings, &data.cfg.ignore_preflight_errors)?;
                data.say(warnings)
            })
        })
}
