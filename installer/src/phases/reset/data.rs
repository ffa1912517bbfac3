//! What reset's phases share (kubeadm: cmd/kubeadm/app/cmd/reset.go `resetData`): the resolved
//! configuration, and what the cluster says about this node when its admin credentials still
//! reach it (read once, with a short timeout: a control plane being reset is often down).

use std::io::Write as _;

use super::ResetOptions;
use crate::kubeadm::config::{self, ClusterFacts, ResetConfig};
use crate::kubeadm::files::Root;
use crate::phases::client::{CLUSTER_ANSWER_TIMEOUT, cluster_configuration};

/// reset's run data.
pub(crate) struct ResetData {
    /// What was asked.
    pub options: ResetOptions,
    /// The resolved configuration.
    pub cfg: ResetConfig,
    /// The node (`/`, or `--rootfs`).
    pub node: Root,
    /// The cluster's word, when it answered (kubeadm's `cfg != nil`).
    pub cluster: Option<ClusterFacts>,
    /// The admin client it answered on.
    pub client: Option<kube::Client>,
}

impl ResetData {
    /// Reads the config file, asks the cluster (if it answers) and resolves the configuration.
    pub async fn new(options: ResetOptions) -> anyhow::Result<Self> {
        let doc = match &options.config {
            Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?.reset,
            None => None,
        };
        let node = Root::rootfs(options.rootfs.as_deref());
        if let Some(dir) = &options.rootfs {
            anyhow::ensure!(dir.is_dir(), "--rootfs {} is not a directory: give the node's root", dir.display());
        }
        node.check("--kubeconfig", &options.kubeconfig)?;
        let (client, cluster) = match cluster_facts(&node, &options.kubeconfig).await {
            Ok((client, facts)) => (Some(client), Some(facts)),
            Err(e) => {
                if node.exists(&options.kubeconfig) {
                    warn(&format!("[reset] Unable to fetch the kubeadm-config ConfigMap from cluster: {e:#}"))?;
                }
                (None, None)
            }
        };
        let mut facts = cluster.clone().unwrap_or_default();
        facts.cri_socket = local_cri_socket(&node);
        let cfg = config::resolve_reset(doc, &options.flags, &facts)?;
        node.check("--cert-dir", &cfg.certificates_dir)?;
        Ok(Self { options, cfg, node, cluster, client })
    }

    /// Prints kubeadm's lines.
    pub fn say(&self, lines: Vec<String>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// A warning, on stderr as klog's.
pub(crate) fn warn(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stderr().lock(), "{line}")?;
    Ok(())
}

/// The cluster's `certificatesDir` and local etcd `dataDir` (kubeadm's
/// `FetchInitConfigurationFromCluster`), over the admin kubeconfig.
async fn cluster_facts(node: &Root, kubeconfig: &str) -> anyhow::Result<(kube::Client, ClusterFacts)> {
    let (client, cluster) = cluster_configuration(node, kubeconfig, CLUSTER_ANSWER_TIMEOUT).await?;
    let etcd_data_dir = match &cluster.etcd {
        Some(etcd) if etcd.external.is_some() => None,
        etcd => Some(
            etcd.as_ref()
                .and_then(|e| e.local.as_ref())
                .and_then(|l| l.data_dir.clone())
                .unwrap_or_else(|| crate::kubeadm::reset::DEFAULT_ETCD_DATA_DIR.into()),
        ),
    };
    Ok((client, ClusterFacts { certificates_dir: cluster.certificates_dir, etcd_data_dir, cri_socket: None }))
}

/// The CRI socket init or join gave the kubelet: `containerRuntimeEndpoint` in
/// `/var/lib/kubelet/instance-config.yaml`, or `--container-runtime-endpoint` in
/// `kubeadm-flags.env` (kubeadm reads the first, or the Node's annotation, from the cluster).
fn local_cri_socket(node: &Root) -> Option<String> {
    let instance = node.read("/var/lib/kubelet/instance-config.yaml").ok().flatten();
    let from_instance = instance.and_then(|bytes| {
        let doc: serde_json::Value = serde_saphyr::from_str(&String::from_utf8_lossy(&bytes)).ok()?;
        doc["containerRuntimeEndpoint"].as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    });
    from_instance.or_else(|| {
        let flags = String::from_utf8(node.read("/var/lib/kubelet/kubeadm-flags.env").ok().flatten()?).ok()?;
        flags.split(['"', ' ']).find_map(|arg| arg.strip_prefix("--container-runtime-endpoint=")).map(str::to_owned)
    })
}
