//! The `cni` phase of `init` and `join` (airadm's own; kubeadm leaves the pod network to an
//! add-on the node would pull): once the node's Node has its pod CIDRs, writes the bridge
//! network of [`crate::cni`] for them, unless the node already has a network configuration.
//! `--skip-phases=cni` leaves the node without one, as kubeadm does.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;

use crate::binaries::CNI_BIN_DIR;
use crate::cni;
use crate::kubeadm::files::Root;
use crate::phases::client::kube_client;

/// How long the phase waits for the Node to be registered and given its pod CIDRs (the
/// controller-manager allocates them once it leads).
pub(crate) const POD_CIDR_TIMEOUT: Duration = Duration::from_secs(240);
const POLL: Duration = Duration::from_millis(500);

/// What the phase is to do.
pub(crate) struct Request<'a> {
    pub root: &'a Root,
    /// `nodeRegistration.name`.
    pub node: &'a str,
    /// The cluster's `networking.podSubnet`, if any.
    pub pod_subnet: Option<&'a str>,
    pub dry_run: bool,
}

/// Runs the phase, printing through `say`.
pub(crate) async fn run(request: Request<'_>, say: &dyn Fn(Vec<String>) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let Request { root, node, pod_subnet, dry_run } = request;
    if pod_subnet.is_none_or(str::is_empty) {
        return say(vec![
            "[cni] WARNING: networking.podSubnet is not set, so nodes get no pod CIDR and no default pod network is written: set it in the ClusterConfiguration, or install a network add-on".into(),
        ]);
    }
    if let Some(other) = other_network(root)? {
        return say(vec![format!("[cni] Found the network configuration \"{other}\": leaving the node's pod network to it")]);
    }
    let missing: Vec<&str> = cni::PLUGINS.iter().copied().filter(|p| !root.exists(format!("{CNI_BIN_DIR}/{p}"))).collect();
    if !missing.is_empty() && !dry_run {
        anyhow::bail!(
            "the CNI plugins {} are not in {CNI_BIN_DIR}: run the binaries phase (they are in the bundle), or skip this phase with --skip-phases=cni",
            missing.join(", ")
        );
    }
    if dry_run {
        return say(vec![format!("[dryrun] Would write the bridge network for node \"{node}\"'s pod CIDRs to \"{}\"", cni::CONFLIST)]);
    }
    say(vec![format!("[cni] Waiting for node \"{node}\" to be given its pod CIDRs. This can take up to {POD_CIDR_TIMEOUT:?}")])?;
    let cidrs = pod_cidrs(root, node).await?;
    let text = cni::conflist(&cidrs)?;
    if root.read(cni::CONFLIST)?.as_deref() == Some(text.as_bytes()) {
        return say(vec![format!("[cni] \"{}\" already holds the bridge network for {}", cni::CONFLIST, cidrs.join(","))]);
    }
    say(vec![format!("[cni] Writing the bridge network for pod CIDRs {} to \"{}\"", cidrs.join(","), cni::CONFLIST)])?;
    root.create_dir(cni::CONF_DIR, 0o755)?;
    root.write(cni::CONFLIST, text.as_bytes(), 0o644)?;
    Ok(())
}

/// A network configuration in the CNI directory that is not airadm's.
fn other_network(root: &Root) -> anyhow::Result<Option<String>> {
    let dir = root.path(cni::CONF_DIR)?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("could not read {}: {e}", dir.display())),
    };
    let mut names: Vec<String> = entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let ours = cni::CONFLIST.rsplit('/').next().unwrap_or_default();
    Ok(names.into_iter().find(|n| cni::is_network_config(n) && n != ours).map(|n| format!("{}/{n}", cni::CONF_DIR)))
}

/// The Node's `spec.podCIDRs` (else `spec.podCIDR`), read with the kubelet's credentials (the
/// node authorizer lets a node read its own Node), once the controller-manager has set them.
async fn pod_cidrs(root: &Root, node: &str) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + POD_CIDR_TIMEOUT;
    let mut last: String;
    // Made once kubelet.conf can be read (the kubelet writes it after its TLS bootstrap).
    let mut client: Option<kube::Client> = None;
    loop {
        match try_pod_cidrs(root, node, &mut client).await {
            Ok(Some(cidrs)) => return Ok(cidrs),
            Ok(None) => last = format!("node \"{node}\" has no pod CIDR yet"),
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "node \"{node}\" was not given a pod CIDR within {POD_CIDR_TIMEOUT:?} ({last}): is the kubelet running and the controller-manager allocating node CIDRs (--allocate-node-cidrs)?"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn try_pod_cidrs(root: &Root, node: &str, client: &mut Option<kube::Client>) -> anyhow::Result<Option<Vec<String>>> {
    let client = match client {
        Some(client) => client.clone(),
        None => client.insert(kube_client(root, "/etc/kubernetes/kubelet.conf").await?).clone(),
    };
    let nodes: kube::Api<Node> = kube::Api::all(client);
    let Some(spec) = nodes.get_opt(node).await?.and_then(|n| n.spec) else { return Ok(None) };
    let cidrs = spec.pod_cidrs.filter(|c| !c.is_empty()).or_else(|| spec.pod_cidr.map(|c| vec![c]));
    Ok(cidrs)
}
