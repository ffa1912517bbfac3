//! `preflight` phase of join (kubeadm: cmd/kubeadm/app/cmd/phases/join/preflight.go): kubeadm's
//! join checks, then the cluster's configuration read through discovery.

use super::JoinData;
use crate::kubeadm::preflight;
use crate::phases::bundle::cri_findings;
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("preflight", "Run join pre-flight checks")
        .long("Run pre-flight checks for kubeadm join.")
        .example("  # Run join pre-flight checks using a config file.\n  airadm join phase preflight --config kubeadm-config.yaml")
        .inherit(&[
            "config",
            "ignore-preflight-errors",
            "tls-bootstrap-token",
            "token",
            "control-plane",
            "apiserver-advertise-address",
            "apiserver-bind-port",
            "cri-socket",
            "node-name",
            "discovery-file",
            "discovery-token",
            "discovery-token-ca-cert-hash",
            "discovery-token-unsafe-skip-ca-verification",
            "certificate-key",
            "dry-run",
        ])
        .run(|data: &mut JoinData| Box::pin(run(data)))
}

/// kubeadm's `runPreflight`: the node checks (the runtime over CRI among them), then `InitCfg`.
async fn run(data: &mut JoinData) -> anyhow::Result<()> {
    data.say(vec!["[preflight] Running pre-flight checks".into()])?;
    let probe = preflight::HostProbe { root: &data.node, bin_dir: &data.options.bin_dir };
    let mut findings = preflight::join_checks(&data.cfg, &data.version, &probe);
    // The runtime answers, and holds the bundle's images (`import` put them there).
    findings.extend(cri_findings(&data.cfg.cri_socket, &data.bundle.manifest.images).await);
    let warnings = preflight::evaluate(&findings, &data.cfg.ignore_preflight_errors)?;
    data.say(warnings)?;
    data.say(vec![
        "[preflight] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...".into(),
        "[preflight] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.".into(),
    ])?;
    data.init_cfg().await?;
    Ok(())
}
