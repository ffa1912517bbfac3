//! `kubelet-start` and `kubelet-wait-bootstrap` phases of join (kubeadm:
//! cmd/kubeadm/app/cmd/phases/join/kubelet.go): the bootstrap kubeconfig and the CA, the kubelet's
//! files from the cluster's configuration, (re)start the kubelet; then wait for it and for its TLS
//! bootstrap to write `kubelet.conf`. With `ControlPlaneKubeletLocalMode` (on from v1.33) a joining
//! control plane's kubelet bootstraps against its own API server, so the wait is a phase of its
//! own, after `etcd-join` has brought that API server's etcd member up.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Node;

use super::JoinData;
use crate::kubeadm::discovery::TLS_BOOTSTRAP_USER;
use crate::kubeadm::files::{PRIVATE, PUBLIC};
use crate::kubeadm::{initsystem, kubeconfig, kubelet, wait};
use crate::workflow::Phase;

/// `/etc/kubernetes/bootstrap-kubelet.conf`.
pub const BOOTSTRAP_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";
/// `/etc/kubernetes/kubelet.conf`, which the kubelet writes once bootstrapped.
pub const KUBELET_KUBECONFIG: &str = "/etc/kubernetes/kubelet.conf";
/// kubeadm's `TLSBootstrapRetryInterval`.
const TLS_BOOTSTRAP_POLL: Duration = Duration::from_secs(1);

pub(super) fn phase() -> Phase<JoinData> {
    Phase::new("kubelet-start", "Write kubelet settings, certificates and (re)start the kubelet")
        .long("Write a file with KubeletConfiguration and an environment file with node specific kubelet settings, and then (re)start kubelet.")
        .inherit(&[
            "config",
            "cri-socket",
            "node-name",
            "discovery-file",
            "discovery-token",
            "discovery-token-ca-cert-hash",
            "discovery-token-unsafe-skip-ca-verification",
            "tls-bootstrap-token",
            "token",
            "patches",
            "dry-run",
        ])
        .run(|data: &mut JoinData| Box::pin(run(data)))
}

/// `kubelet-wait-bootstrap`: hidden, and only with `ControlPlaneKubeletLocalMode`.
pub(super) fn wait_phase() -> Phase<JoinData> {
    Phase::new(
        "kubelet-wait-bootstrap",
        "[EXPERIMENTAL] Wait for the kubelet to bootstrap itself (only used when feature gate ControlPlaneKubeletLocalMode is enabled)",
    )
    .inherit(&["config", "cri-socket", "dry-run"])
    .hidden()
    .run(|data: &mut JoinData| {
        Box::pin(async move {
            if !data.init_cfg().await?.feature(LOCAL_MODE) {
                return Ok(());
            }
            wait_bootstrap(data).await
        })
    })
}

/// The feature gate that splits the TLS bootstrap wait off `kubelet-start`.
pub(super) const LOCAL_MODE: &str = "ControlPlaneKubeletLocalMode";

async fn run(data: &mut JoinData) -> anyhow::Result<()> {
    let local_mode = data.init_cfg().await?.feature(LOCAL_MODE);
    let result = start(data, local_mode).await;
    // kubeadm removes the bootstrap kubeconfig when the phase ends, whatever happened (with the
    // local mode, kubelet-wait-bootstrap does).
    if !data.options.dry_run && (!local_mode || result.is_err()) {
        data.root.remove(BOOTSTRAP_KUBECONFIG)?;
    }
    result
}

/// kubeadm's `runKubeletStartJoinPhase` (and, without the local mode, `runKubeletWaitBootstrapPhase`).
async fn start(data: &mut JoinData, local_mode: bool) -> anyhow::Result<()> {
    let tls = data.tls_bootstrap().await?;
    let cfg = data.init_cfg().await?;
    let client = data.bootstrap_client().await?;
    // The local mode: a control plane's kubelet talks to its own API server from the start.
    let server = if local_mode && data.control_plane() { cfg.local_api_url() } else { tls.cluster.server.clone() };
    let bootstrap =
        kubeconfig::render_token(&cfg.cluster_name, &server, TLS_BOOTSTRAP_USER, &tls.cluster.ca_pem, &tls.token, cfg.version.minor)?;
    data.root.write(BOOTSTRAP_KUBECONFIG, bootstrap.as_bytes(), PRIVATE).context("couldn't save bootstrap-kubelet.conf to disk")?;
    if !data.root.exists(&data.cfg.ca_cert_path) {
        data.root.write(&data.cfg.ca_cert_path, &tls.cluster.ca_pem, PUBLIC).context("couldn't save the CA certificate to disk")?;
    }
    // A Ready Node of this name is another machine: refuse to take its place.
    let nodes: kube::Api<Node> = kube::Api::all(client);
    let existing = nodes.get_opt(&cfg.node_name).await.with_context(|| format!("cannot get Node {:?}", cfg.node_name))?;
    let ready = existing
        .and_then(|n| n.status)
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    anyhow::ensure!(
        !ready,
        "a Node with name {:?} and status \"Ready\" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node",
        cfg.node_name
    );
    let dry_run = data.options.dry_run;
    if dry_run {
        data.say(vec!["[kubelet-start] Would stop the kubelet".into()])?;
    } else {
        data.say(initsystem::kubelet(&data.root, initsystem::Kubelet::Stop))?;
    }
    data.say(kubelet::write_files(&cfg, &data.root, &data.host.hostname, kubelet::Workflow::Join)?)?;
    if dry_run {
        return data.say(vec!["[kubelet-start] Would start the kubelet".into()]);
    }
    data.say(vec!["[kubelet-start] Starting the kubelet".into()])?;
    data.say(initsystem::kubelet(&data.root, initsystem::Kubelet::Start))?;
    if local_mode { Ok(()) } else { wait_bootstrap(data).await }
}

/// kubeadm's `runKubeletWaitBootstrapPhase`: the kubelet's health, then its TLS bootstrap; the
/// bootstrap kubeconfig is removed when it ends.
async fn wait_bootstrap(data: &mut JoinData) -> anyhow::Result<()> {
    if data.options.dry_run {
        return data.say(vec!["[kubelet-wait] Would wait for the kubelet to be bootstrapped".into()]);
    }
    let result = wait_bootstrap_inner(data).await;
    data.root.remove(BOOTSTRAP_KUBECONFIG)?;
    result
}

async fn wait_bootstrap_inner(data: &mut JoinData) -> anyhow::Result<()> {
    let cfg = data.init_cfg().await?;
    let timeout = data.cfg.kubelet_health_timeout;
    data.say(vec![format!(
        "[kubelet-check] Waiting for a healthy kubelet at http://{}/healthz. This can take up to {}",
        wait::KUBELET_HEALTHZ,
        wait::go_duration(timeout)
    )])?;
    let took = wait::kubelet_healthy(wait::KUBELET_HEALTHZ.parse()?, timeout, wait::POLL)
        .await
        .context("failed while waiting for the kubelet to start")?;
    data.say(vec![
        format!("[kubelet-check] The kubelet is healthy after {took:?}"),
        "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap".into(),
    ])?;
    let kubelet_client =
        wait_for_tls_bootstrap(data, data.cfg.tls_bootstrap_timeout).await.context("failed while waiting for TLS bootstrap")?;
    if !cfg.feature("NodeLocalCRISocket") {
        annotate_cri_socket(&kubelet_client, &cfg.node_name, &cfg.cri_socket, data.cfg.kubernetes_api_call_timeout)
            .await
            .context("error writing CRISocket for this node")?;
    }
    Ok(())
}

/// kubeadm's `waitForTLSBootstrappedClient`: until `kubelet.conf` makes a client.
async fn wait_for_tls_bootstrap(data: &JoinData, timeout: Duration) -> anyhow::Result<kube::Client> {
    let deadline = Instant::now() + timeout;
    loop {
        match crate::phases::client::kube_client(&data.root, KUBELET_KUBECONFIG).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() + TLS_BOOTSTRAP_POLL > deadline => {
                return Err(e.context(format!("the kubelet wrote no usable {KUBELET_KUBECONFIG} within {timeout:?}")));
            }
            Err(_) => tokio::time::sleep(TLS_BOOTSTRAP_POLL).await,
        }
    }
}

/// kubeadm's `AnnotateCRISocket`: the Node records the CRI socket kubeadm used, once the kubelet
/// registered it.
async fn annotate_cri_socket(client: &kube::Client, node: &str, socket: &str, timeout: Duration) -> anyhow::Result<()> {
    let nodes: kube::Api<Node> = kube::Api::all(client.clone());
    let patch = serde_json::json!({ "metadata": { "annotations": { "kubeadm.alpha.kubernetes.io/cri-socket": socket } } });
    let deadline = Instant::now() + timeout;
    loop {
        match nodes.patch(node, &kube::api::PatchParams::default(), &kube::api::Patch::Strategic(&patch)).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(anyhow::Error::new(e).context(format!("patching Node {node:?}"))),
            Err(_) => tokio::time::sleep(wait::POLL).await,
        }
    }
}
