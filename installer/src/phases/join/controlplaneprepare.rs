//! `control-plane-prepare` phase of join (kubeadm: cmd/kubeadm/app/cmd/phases/join/controlplaneprepare.go):
//! for a node joining as another control plane, the shared CAs and keys from the `kubeadm-certs`
//! Secret, this node's own certificates signed by them, its kubeconfig files and its control-plane
//! static Pods. A worker join runs none of it.

use std::time::SystemTime;

use anyhow::Context as _;

use super::JoinData;
use crate::kubeadm::{api, certs, config, kubeconfig, staticpod};
use crate::phases::host::proxy_env;
use crate::workflow::Phase;

/// kubeadm's `getControlPlanePreparePhaseFlags`.
fn flags(name: &str) -> Vec<&'static str> {
    let discovery = [
        "config",
        "control-plane",
        "discovery-file",
        "discovery-token",
        "discovery-token-ca-cert-hash",
        "discovery-token-unsafe-skip-ca-verification",
        "tls-bootstrap-token",
        "token",
    ];
    let mut flags: Vec<&'static str> = match name {
        "all" => {
            [&["apiserver-advertise-address", "apiserver-bind-port", "node-name", "certificate-key", "patches"][..], &discovery].concat()
        }
        "download-certs" | "kubeconfig" => [&discovery[..], &["certificate-key"]].concat(),
        "certs" => [&["apiserver-advertise-address", "node-name"][..], &discovery].concat(),
        "control-plane" => vec!["apiserver-advertise-address", "apiserver-bind-port", "config", "control-plane", "patches"],
        _ => Vec::new(),
    };
    flags.push("dry-run");
    flags
}

pub(super) fn phase() -> Phase<JoinData> {
    let sub = |name: &'static str, short: &str| Phase::new(name, short).inherit(&flags(name));
    Phase::new("control-plane-prepare", "Prepare the machine for serving a control plane")
        .example("  # Prepares the machine for serving a control plane\n  airadm join phase control-plane-prepare all")
        .phases(vec![
            Phase::all("Prepare the machine for serving a control plane", &flags("all")),
            sub("download-certs", "Download certificates shared among control-plane nodes from the kubeadm-certs Secret")
                .run(|data: &mut JoinData| Box::pin(download_certs(data))),
            sub("certs", "Generate the certificates for the new control plane components").run(|data: &mut JoinData| Box::pin(certs(data))),
            sub("kubeconfig", "Generate the kubeconfig for the new control plane components")
                .run(|data: &mut JoinData| Box::pin(kubeconfigs(data))),
            sub("control-plane", "Generate the manifests for the new control plane components")
                .run(|data: &mut JoinData| Box::pin(control_plane(data))),
        ])
}

/// kubeadm's `runControlPlanePrepareDownloadCertsPhaseLocal`: only with a certificate key.
async fn download_certs(data: &mut JoinData) -> anyhow::Result<()> {
    let Some(key) = data.certificate_key().map(str::to_owned) else { return Ok(()) };
    let cfg = data.init_cfg().await?;
    let client = data.bootstrap_client().await.context("unable to access the cluster")?;
    let lines = api::download_certs(&client, &cfg, &data.root, &key).await.context("error downloading certs")?;
    data.say(lines)
}

/// kubeadm's `runControlPlanePrepareCertsPhaseLocal` (`CreatePKIAssets`): every certificate of
/// kubeadm's list that is missing, signed by the CAs there (downloaded, or copied by hand).
async fn certs(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let cfg = data.init_cfg().await?;
    // GetCertsWithoutEtcd with an external etcd.
    let etcd = |name: &str| name.starts_with("etcd-") || name == "apiserver-etcd-client";
    let names: Vec<&str> =
        certs::phase_names().iter().map(|(name, _)| *name).filter(|name| cfg.local_etcd().is_some() || !etcd(name)).collect();
    let (mut lines, mut keys) = certs::start(&cfg, &data.root, &names)?;
    let now = SystemTime::now();
    for name in names.iter().filter(|n| **n != certs::SA) {
        // An existing CA is only loaded (kubeadm's CreateTree says nothing of it).
        let spec = certs::CERTS.iter().find(|c| c.name == *name);
        let quiet = spec.is_some_and(|c| c.ca.is_none() && data.root.exists(cfg.cert_path(&format!("{}.crt", c.base_name))));
        let said = certs::run_one(&cfg, &data.root, name, now, &mut keys).context("error creating PKI assets")?;
        if !quiet {
            lines.extend(said);
        }
    }
    lines.push(format!("[certs] Valid certificates and keys now exist in {:?}", cfg.cert_dir));
    lines.extend(certs::run_one(&cfg, &data.root, certs::SA, now, &mut keys)?);
    data.say(lines)
}

/// kubeadm's `runControlPlanePrepareKubeconfigPhaseLocal` (`CreateJoinControlPlaneKubeConfigFiles`):
/// admin.conf, controller-manager.conf and scheduler.conf; with an external CA, those given.
async fn kubeconfigs(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let cfg = data.init_cfg().await?;
    let files = ["admin", "controller-manager", "scheduler"];
    data.say(vec!["[kubeconfig] Generating kubeconfig files".into()])?;
    let (mut lines, mut keys) = kubeconfig::start(&cfg, &data.root, &files)?;
    let now = SystemTime::now();
    for name in files {
        lines.extend(kubeconfig::run_one(&cfg, &data.root, name, now, &mut keys).context("error generating kubeconfig files")?);
    }
    data.say(lines)
}

/// kubeadm's `runControlPlanePrepareControlPlaneSubphase`.
async fn control_plane(data: &mut JoinData) -> anyhow::Result<()> {
    if !data.control_plane() {
        return Ok(());
    }
    let cfg = data.init_cfg().await?;
    data.say(vec![format!("[control-plane] Using manifest folder \"{}\"", config::defaults::MANIFESTS_DIR)])?;
    let external_ca = certs::using_external_ca(&cfg, &data.root);
    for component in [staticpod::KUBE_APISERVER, staticpod::KUBE_CONTROLLER_MANAGER, staticpod::KUBE_SCHEDULER] {
        data.say(staticpod::write_manifests(&cfg, &data.root, component, external_ca, &proxy_env())?)?;
    }
    Ok(())
}
