//! What join's phases share (kubeadm: cmd/kubeadm/app/cmd/join.go `joinData`): the bundle and
//! the resolved JoinConfiguration, built once; the cluster, discovered on first use
//! (`TLSBootstrapCfg`); and the cluster's configuration for this node, fetched on first use
//! (`InitCfg`).

use std::io::Write as _;

use anyhow::Context as _;
use bundle::kubeadm::{ApiEndpoint, InitConfiguration};
use k8s_openapi::api::core::v1::ConfigMap;

use super::JoinOptions;
use crate::kubeadm::config::{self, ComponentImages, Discovery, HostFacts, InitConfig, InitFlags, JoinConfig, Version};
use crate::kubeadm::discovery::{self, Cluster, Pins, Token, token};
use crate::kubeadm::files::Root;
use crate::phases::bundle::{BinariesPlacement, OpenBundle};
use crate::phases::host::host_facts;

/// The cluster a TLS bootstrap talks to, and the token it uses (kubeadm's `tlsBootstrapCfg`).
#[derive(Debug, Clone)]
pub(crate) struct TlsBootstrap {
    /// The cluster from discovery.
    pub cluster: Cluster,
    /// The TLS bootstrap token.
    pub token: String,
}

/// join's run data.
pub(crate) struct JoinData {
    /// What was asked.
    pub options: JoinOptions,
    /// The bundle, opened and its manifest checked.
    pub bundle: OpenBundle,
    /// The bundle's Kubernetes version.
    pub version: Version,
    /// The resolved JoinConfiguration.
    pub cfg: JoinConfig,
    /// What the node said about itself.
    pub host: HostFacts,
    /// The node (`/`, or `--rootfs`).
    pub node: Root,
    /// Where files go: the node, or the `--dry-run` directory.
    pub root: Root,
    /// The `--dry-run` directory, kept when the run ends.
    pub dry_dir: Option<tempfile::TempDir>,
    /// The phases that run, by name (`control-plane-prepare/certs`).
    pub planned: Vec<String>,
    tls_bootstrap: Option<TlsBootstrap>,
    init_cfg: Option<InitConfig>,
    admin: Option<kube::Client>,
}

impl JoinData {
    /// Opens the bundle, reads the config file and resolves it with the flags.
    pub async fn new(options: JoinOptions) -> anyhow::Result<Self> {
        let bundle = OpenBundle::open(&options.bundle, &options.trusted_keys, options.signature.as_deref(), options.arch.as_deref())?;
        let version = bundle.version()?;
        let docs = match &options.config {
            Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?,
            None => config::Documents::default(),
        };
        let node = Root::rootfs(options.rootfs.as_deref());
        let config_socket = docs.join.as_ref().and_then(|j| j.node_registration.as_ref()).is_some_and(|n| n.cri_socket.is_some());
        let host = host_facts(options.flags.cri_socket.is_some() || config_socket, &node)?;
        let cfg = config::resolve_join(docs.join, &options.flags, &host)?;
        node.check("caCertPath", &cfg.ca_cert_path)?;
        let dry_dir = options.dry_run.then(|| tempfile::Builder::new().prefix("airadm-join-dryrun-").tempdir()).transpose()?;
        let root = match &dry_dir {
            Some(dir) => Root::new(dir.path()).named("the --dry-run directory"),
            None => node.clone(),
        };
        Ok(Self {
            options,
            bundle,
            version,
            cfg,
            host,
            node,
            root,
            dry_dir,
            planned: Vec::new(),
            tls_bootstrap: None,
            init_cfg: None,
            admin: None,
        })
    }

    /// Where the `binaries` phase installs: under the node, `--bin-dir`, `--force-binaries`.
    pub fn binaries_placement(&self) -> BinariesPlacement {
        let o = &self.options;
        BinariesPlacement { root: self.node.clone(), bin_dir: o.bin_dir.clone(), force: o.force_binaries, dry_run: o.dry_run }
    }

    /// Prints kubeadm's lines.
    pub fn say(&self, lines: Vec<String>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// kubeadm's `TLSBootstrapCfg`: discovers and validates the cluster on first use.
    pub async fn tls_bootstrap(&mut self) -> anyhow::Result<TlsBootstrap> {
        if let Some(tls) = &self.tls_bootstrap {
            return Ok(tls.clone());
        }
        let cluster = match &self.cfg.discovery {
            Discovery::Token { endpoint, token: text, ca_cert_hashes } => {
                let token = Token::parse(text)?;
                let pins = Pins::parse(ca_cert_hashes)?;
                let found = token::retrieve(endpoint, &token, &pins, self.cfg.discovery_timeout, token::RETRY_INTERVAL)
                    .await
                    .context("couldn't validate the identity of the API Server")?;
                found.cluster
            }
            Discovery::File { path } => {
                let text = self.node.read(path)?.with_context(|| format!("discovery file `{path}` does not exist"))?;
                let text = String::from_utf8(text).with_context(|| format!("discovery file `{path}` is not UTF-8"))?;
                discovery::cluster_of(&text).with_context(|| format!("discovery file `{path}`"))?
            }
        };
        let token = self.cfg.tls_bootstrap_token.clone().context(
            "couldn't find authentication credentials for the TLS bootstrap process: use token discovery, or --tls-bootstrap-token with --discovery-file",
        )?;
        let tls = TlsBootstrap { cluster, token };
        self.tls_bootstrap = Some(tls.clone());
        Ok(tls)
    }

    /// A client of the cluster authenticating with the TLS bootstrap token.
    pub async fn bootstrap_client(&mut self) -> anyhow::Result<kube::Client> {
        let tls = self.tls_bootstrap().await?;
        token::cluster_client(&tls.cluster.server, Some(&tls.cluster.ca_pem), Some(&tls.token))
    }

    /// kubeadm's `InitCfg`: the cluster's ClusterConfiguration and kubelet configuration (the
    /// `kubeadm-config` and `kubelet-config` ConfigMaps), with this node's registration.
    pub async fn init_cfg(&mut self) -> anyhow::Result<InitConfig> {
        if let Some(cfg) = &self.init_cfg {
            return Ok(cfg.clone());
        }
        let client = self.bootstrap_client().await?;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "kube-system");
        let data = |name: &'static str, key: &'static str| {
            let api = api.clone();
            async move {
                let cm = api.get(name).await.with_context(|| format!("unable to fetch the {name} ConfigMap"))?;
                cm.data.and_then(|mut d| d.remove(key)).with_context(|| format!("the {name} ConfigMap has no {key} key"))
            }
        };
        let cluster_text = data("kubeadm-config", "ClusterConfiguration").await?;
        let kubelet_text = data("kubelet-config", "kubelet").await?;
        let cluster = config::parse_documents(&cluster_text, "the kubeadm-config ConfigMap")?.cluster;
        let kubelet = config::parse_documents(&kubelet_text, "the kubelet-config ConfigMap")?.kubelet;
        // A joining control plane's own endpoint (defaulted by `resolve` from the node's
        // default route, as init's), kubeadm's `initConfiguration.LocalAPIEndpoint = …`.
        let local_api_endpoint: Option<ApiEndpoint> = self.cfg.control_plane.as_ref().map(|cp| cp.local_api_endpoint.clone());
        let init =
            InitConfiguration { node_registration: Some(self.cfg.node_registration.clone()), local_api_endpoint, ..Default::default() };
        let docs = config::Documents { init: Some(init), cluster, kubelet, ..Default::default() };
        let host = HostFacts { cri_socket: Some(self.cfg.cri_socket.clone()), ..self.host.clone() };
        let images = ComponentImages::from_bundle(&self.bundle.manifest.images)?;
        let mut cfg = config::resolve(docs, &InitFlags::default(), &host, &self.version, images)
            .context("the cluster's configuration (kubeadm-config, kubelet-config) does not fit this bundle")?;
        cfg.register_taints_with_flags = self.cfg.control_plane.is_none();
        cfg.patches_dir.clone_from(&self.cfg.patches_dir);
        // kubeadm's active timeouts are the JoinConfiguration's.
        cfg.kubernetes_api_call_timeout = self.cfg.kubernetes_api_call_timeout;
        cfg.control_plane_health_timeout = self.cfg.control_plane_health_timeout;
        cfg.kubelet_health_timeout = self.cfg.kubelet_health_timeout;
        self.init_cfg = Some(cfg.clone());
        Ok(cfg)
    }

    /// Whether this node joins as another control-plane node.
    pub fn control_plane(&self) -> bool {
        self.cfg.control_plane.is_some()
    }

    /// `--certificate-key` / `controlPlane.certificateKey`, when given.
    pub fn certificate_key(&self) -> Option<&str> {
        self.cfg.control_plane.as_ref().and_then(|cp| cp.certificate_key.as_deref())
    }

    /// kubeadm's `joinData.Client()`: admin.conf, which `control-plane-prepare` wrote.
    pub async fn client(&mut self) -> anyhow::Result<kube::Client> {
        if let Some(client) = &self.admin {
            return Ok(client.clone());
        }
        let client = crate::phases::client::kube_client(&self.root, ADMIN_KUBECONFIG)
            .await
            .context("[preflight] couldn't create Kubernetes client")?;
        self.admin = Some(client.clone());
        Ok(client)
    }
}

/// `/etc/kubernetes/admin.conf`.
pub const ADMIN_KUBECONFIG: &str = "/etc/kubernetes/admin.conf";
