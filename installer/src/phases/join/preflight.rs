//! `preflight` phase of join (kubeadm: cmd/kubeadm/app/cmd/phases/join/preflight.go): kubeadm's
//! join checks, then the cluster's configuration read through discovery; for another control
//! plane, whether the cluster can take one, and init's control-plane checks.

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
    let cfg = data.init_cfg().await?;
    if !data.control_plane() {
        return Ok(());
    }
    // kubeadm's `checkIfReadyForAdditionalControlPlane`.
    let has_key = data.certificate_key().is_some();
    let ready =
        match &cfg.control_plane_endpoint {
            None => Err("unable to add a new control plane instance to a cluster that doesn't have a stable controlPlaneEndpoint address"
                .to_owned()),
            Some(_) if !has_key => preflight::shared_certificates_exist(&cfg, &|path| data.node.exists(path)),
            Some(_) => Ok(()),
        };
    if let Err(e) = ready {
        anyhow::bail!(
            "One or more conditions for hosting a new control plane instance is not satisfied: {e}. Please ensure that the cluster has a stable controlPlaneEndpoint address and that the certificates that must be shared among control plane instances are provided"
        );
    }
    data.say(vec!["[preflight] Running pre-flight checks before initializing the new control plane instance".into()])?;
    let probe = preflight::HostProbe { root: &data.node, bin_dir: &data.options.bin_dir };
    let findings = preflight::control_plane_join_checks(&cfg, &probe, has_key);
    let warnings = preflight::evaluate(&findings, &data.cfg.ignore_preflight_errors)?;
    data.say(warnings)
}
