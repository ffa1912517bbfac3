//! What init's phases share (kubeadm: cmd/kubeadm/app/cmd/init.go `initData`): built once from
//! the flags, the config file and the bundle's signed manifest, before any phase runs.

use std::io::Write as _;
use std::path::Path;
use std::time::SystemTime;

use super::InitOptions;
use crate::kubeadm::config::{self, ComponentImages, HostFacts, InitConfig, Version};
use crate::kubeadm::files::Root;
use crate::kubeadm::{certs, kubeconfig};
use crate::phases::bundle::{BinariesPlacement, OpenBundle};
use crate::phases::client::AdminClient;
use crate::phases::host::host_facts;

/// init's run data.
pub(crate) struct InitData {
    /// What was asked.
    pub options: InitOptions,
    /// The bundle, opened and its manifest checked.
    pub bundle: OpenBundle,
    /// The resolved configuration.
    pub cfg: InitConfig,
    /// What the node said about itself.
    pub host: HostFacts,
    /// The node (`/`, or `--rootfs`).
    pub node: Root,
    /// Where files go: the node, or the `--dry-run` directory.
    pub root: Root,
    /// The `--dry-run` directory, kept when the run ends.
    pub dry_dir: Option<tempfile::TempDir>,
    /// kubeadm's start time: certificates' NotBefore, token expiry.
    pub now: SystemTime,
    /// The key `upload-certs` used, for `show-join-command`.
    pub certificate_key: Option<String>,
    /// Keys the `certs` phase made ahead for its sub-phases.
    pub cert_keys: certs::PregeneratedKeys,
    /// Keys the `kubeconfig` phase made ahead for its sub-phases.
    pub kubeconfig_keys: kubeconfig::PregeneratedKeys,
    /// The phases that run, by name (`certs/apiserver`).
    pub planned: Vec<String>,
    admin: AdminClient,
}

impl InitData {
    /// Opens the bundle and checks its manifest's signature, reads the config, asks the node,
    /// resolves them into one configuration and checks its node paths against `--rootfs`.
    pub async fn new(options: InitOptions) -> anyhow::Result<Self> {
        let bundle = OpenBundle::open(&options.bundle, &options.trusted_keys, options.signature.as_deref(), options.arch.as_deref())?;
        let version = bundle.version()?;
        if let Some(given) = &options.kubernetes_version
            && Version::parse(given).map(|v| v.text) != Some(version.text.clone())
        {
            anyhow::bail!("--kubernetes-version {given} is not the bundle's version {version}: use a {given} bundle, or drop the flag");
        }
        let images = ComponentImages::from_bundle(&bundle.manifest.images)?;
        let docs = match &options.config {
            Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?,
            None => config::Documents::default(),
        };
        if docs.join.is_some() {
            tracing::warn!(
                "{}: JoinConfiguration is not used by init; ignored",
                options.config.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        let node = Root::rootfs(options.rootfs.as_deref());
        let config_socket = docs.init.as_ref().and_then(|i| i.node_registration.as_ref()).is_some_and(|n| n.cri_socket.is_some());
        let host = host_facts(options.flags.cri_socket.is_some() || config_socket, &node)?;
        let cfg = config::resolve(docs, &options.flags, &host, &version, images)?;
        for (field, path) in cfg.node_paths(&options.flags) {
            node.check(field, path)?;
        }
        // Dry run: everything is written to a temp dir instead of the node.
        let dry_dir = options.dry_run.then(|| tempfile::Builder::new().prefix("airadm-init-dryrun-").tempdir()).transpose()?;
        let root = match &dry_dir {
            Some(dir) => Root::new(dir.path()).named("the --dry-run directory"),
            None => node.clone(),
        };
        Ok(Self {
            options,
            bundle,
            cfg,
            host,
            node,
            root,
            dry_dir,
            now: SystemTime::now(),
            certificate_key: None,
            cert_keys: certs::PregeneratedKeys::default(),
            kubeconfig_keys: kubeconfig::PregeneratedKeys::default(),
            planned: Vec::new(),
            admin: AdminClient(None),
        })
    }

    /// Where the `binaries` phase installs: under the node, `--bin-dir`, `--force-binaries`.
    pub fn binaries_placement(&self) -> BinariesPlacement {
        let o = &self.options;
        BinariesPlacement { root: self.node.clone(), bin_dir: o.bin_dir.clone(), force: o.force_binaries, dry_run: o.dry_run }
    }

    /// Prints kubeadm's lines (kubeadm: `data.OutputWriter()`).
    pub fn say(&self, lines: Vec<String>) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        for line in lines {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// The admin client, made usable on first use (kubeadm: `initData.Client()`).
    pub async fn client(&mut self) -> anyhow::Result<kube::Client> {
        self.admin.get(&self.root).await
    }

    /// The planned sub-phases of `parent` (`certs` → `ca`, `apiserver`, …).
    pub fn planned_under(&self, parent: &str) -> Vec<&str> {
        let prefix = format!("{parent}/");
        self.planned.iter().filter_map(|name| name.strip_prefix(&prefix)).collect()
    }
}
