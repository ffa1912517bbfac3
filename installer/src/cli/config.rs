//! `airadm config print init-defaults|join-defaults|reset-defaults`, `airadm config images list`
//! and `airadm config validate`, as kubeadm's.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::kubeadm::config;

/// `airadm config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print kubeadm configuration.
    #[command(subcommand)]
    Print(PrintCommand),
    /// The images init uses.
    #[command(subcommand)]
    Images(ConfigImagesCommand),
    /// Read a file containing the kubeadm configuration API and report any validation problems.
    Validate(ValidateArgs),
    /// Read an older version of the kubeadm configuration API types from a file, and output the similar config object for the newer version (v1beta4), defaulted.
    Migrate(MigrateArgs),
}

/// `airadm config migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The kubeadm config file to convert (v1beta3 or v1beta4).
    #[arg(long)]
    pub old_config: PathBuf,
    /// Write the result here (0644) instead of standard output.
    #[arg(long)]
    pub new_config: Option<PathBuf>,
    /// Default kubernetesVersion and the images from this bundle (its signature checked).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
}

/// `airadm config validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The kubeadm config file (v1beta3 or v1beta4 documents).
    #[arg(long)]
    pub config: PathBuf,
    /// Also check it against this bundle: its version and images (its signature checked).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
}

/// `airadm config print …`.
#[derive(Debug, Subcommand)]
pub enum PrintCommand {
    /// The default InitConfiguration and ClusterConfiguration (v1beta4), as `kubeadm config
    /// print init-defaults` prints them; version and image repository from --bundle.
    InitDefaults(InitDefaultsArgs),
    /// The default JoinConfiguration (v1beta4), as `kubeadm config print join-defaults` prints it.
    JoinDefaults,
    /// The default ResetConfiguration (v1beta4), as `kubeadm config print reset-defaults` prints it.
    ResetDefaults,
}

/// `airadm config print init-defaults`.
#[derive(Debug, Args)]
pub struct InitDefaultsArgs {
    /// Take kubernetesVersion and imageRepository from this bundle (its signature checked).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
}

/// `airadm config images …`.
#[derive(Debug, Subcommand)]
pub enum ConfigImagesCommand {
    /// The images `airadm init` runs, from the bundle (nothing is ever pulled).
    List(ConfigImagesListArgs),
}

/// `airadm config images list`.
#[derive(Debug, Args)]
pub struct ConfigImagesListArgs {
    /// The bundle (its signature checked).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// kubeadm config file: an external etcd drops etcd, `dns.disabled` CoreDNS, `proxy.disabled` kube-proxy.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `airadm config …`.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        ConfigCommand::Print(PrintCommand::InitDefaults(args)) => {
            let manifest = args.bundle.as_deref().map(|b| super::manifest_verified(b, &args.trusted_keys)).transpose()?;
            let version = manifest.as_ref().map(|m| m.kubernetes_version.as_str());
            let repository = manifest.as_ref().map(|m| m.image_repository.as_str());
            write!(out, "{}", config::init_defaults_yaml(version, repository)?)?;
        }
        ConfigCommand::Print(PrintCommand::JoinDefaults) => {
            // kubeadm's node name default: the hostname, lower-cased.
            let hostname = fs_err::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_lowercase();
            write!(out, "{}", config::join_defaults_yaml(&hostname))?;
        }
        ConfigCommand::Print(PrintCommand::ResetDefaults) => write!(out, "{}", config::reset_defaults_yaml())?,
        ConfigCommand::Migrate(args) => {
            let manifest = args.bundle.as_deref().map(|b| super::manifest_verified(b, &args.trusted_keys)).transpose()?;
            let name = args.old_config.display().to_string();
            let docs = config::parse_documents(&fs_err::read_to_string(&args.old_config)?, &name)?;
            let (version, images) = version_and_images(&docs, manifest.as_ref(), &name, None)?;
            let mut host = crate::phases::host::host_facts(false, &crate::kubeadm::files::Root::rootfs(None))?;
            // kubeadm's default when no runtime's socket is found.
            host.cri_socket.get_or_insert_with(|| config::defaults::CRI_SOCKET.into());
            let text = config::migrate(&docs, &host, &version, images)?;
            match &args.new_config {
                Some(path) => crate::kubeadm::files::Root::rootfs(None)
                    .write(std::path::absolute(path)?, text.as_bytes(), crate::kubeadm::files::PUBLIC)
                    .map_err(|e| {
                        anyhow::anyhow!("failed to write the new configuration to the file {:?}: {e}", path.display().to_string())
                    })?,
                None => write!(out, "{text}")?,
            }
        }
        ConfigCommand::Validate(args) => {
            let manifest = args.bundle.as_deref().map(|b| super::manifest_verified(b, &args.trusted_keys)).transpose()?;
            validate(&args.config, manifest.as_ref())?;
            writeln!(out, "ok")?;
        }
        ConfigCommand::Images(ConfigImagesCommand::List(args)) => {
            let manifest = super::manifest_verified(&args.bundle, &args.trusted_keys)?;
            let docs = match &args.config {
                Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?,
                None => config::Documents::default(),
            };
            let cluster = docs.cluster.unwrap_or_default();
            let external_etcd = cluster.etcd.as_ref().is_some_and(|e| e.external.is_some());
            let no_dns = cluster.dns.as_ref().and_then(|d| d.disabled).unwrap_or(false);
            let no_proxy = cluster.proxy.as_ref().and_then(|p| p.disabled).unwrap_or(false);
            // kubeadm's order (images.GetControlPlaneImages).
            for component in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", "pause", "etcd"] {
                let skip =
                    (component == "etcd" && external_etcd) || (component == "coredns" && no_dns) || (component == "kube-proxy" && no_proxy);
                if let Some(image) = manifest.images.iter().find(|i| i.component == component)
                    && !skip
                {
                    writeln!(out, "{}", image.name)?;
                }
            }
        }
    }
    Ok(())
}

/// kubeadm's `ValidateConfig`: every document parses strictly (known API versions and kinds, no
/// unknown fields), and each kind resolves with kubeadm's validation: Init/ClusterConfiguration
/// against the bundle's version and images (else its own kubernetesVersion and kubeadm's image
/// names), JoinConfiguration and ResetConfiguration on their own. The node is not asked.
fn validate(path: &std::path::Path, manifest: Option<&bundle::Manifest>) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let name = path.display().to_string();
    let docs = config::parse_documents(&fs_err::read_to_string(path)?, &name)?;
    let host = config::HostFacts {
        hostname: "node".into(),
        default_address: Some(std::net::Ipv4Addr::new(10, 0, 0, 1).into()),
        cri_socket: Some(config::defaults::CRI_SOCKET.into()),
    };
    if docs.join.is_some() {
        config::resolve_join(docs.join.clone(), &config::JoinFlags::default(), &host)
            .with_context(|| format!("{name}: JoinConfiguration"))?;
    }
    if docs.reset.is_some() {
        let facts = config::ClusterFacts::default();
        config::resolve_reset(docs.reset.clone(), &config::ResetFlags::default(), &facts)
            .with_context(|| format!("{name}: ResetConfiguration"))?;
    }
    if docs.init.is_none() && docs.cluster.is_none() {
        return Ok(());
    }
    // Without a bundle or a version of its own, a config is checked with the rules of v1.34.
    let (version, images) = version_and_images(&docs, manifest, &name, Some("v1.34.0"))?;
    config::resolve(docs, &config::InitFlags::default(), &host, &version, images)
        .with_context(|| format!("{name}: InitConfiguration/ClusterConfiguration"))?;
    Ok(())
}

/// The version and images an InitConfiguration is checked (or migrated) against: the bundle's,
/// else the file's own kubernetesVersion with kubeadm's image names.
fn version_and_images(
    docs: &config::Documents,
    manifest: Option<&bundle::Manifest>,
    name: &str,
    fallback: Option<&str>,
) -> anyhow::Result<(config::Version, config::ComponentImages)> {
    use anyhow::Context as _;
    if let Some(manifest) = manifest {
        let version = config::Version::parse(&manifest.kubernetes_version).context("the bundle's version")?;
        return Ok((version, config::ComponentImages::from_bundle(&manifest.images)?));
    }
    let given = docs.cluster.as_ref().and_then(|c| c.kubernetes_version.clone());
    let given = match given {
        Some(given) => given,
        None if docs.init.is_none() && docs.cluster.is_none() => "v1.34.0".into(),
        None => match fallback {
            Some(fallback) => fallback.to_owned(),
            None => {
                anyhow::bail!("{name}: no kubernetesVersion in the ClusterConfiguration: set it, or pass --bundle to take the bundle's")
            }
        },
    };
    let version = config::Version::parse(&given)
        .with_context(|| format!("{name}: ClusterConfiguration.kubernetesVersion `{given}` is not a version like v1.34.2"))?;
    let repository = docs.cluster.as_ref().and_then(|c| c.image_repository.clone()).unwrap_or_else(|| "registry.k8s.io".into());
    let image = |component: &str| format!("{repository}/{component}:{given}");
    let images = config::ComponentImages {
        api_server: image("kube-apiserver"),
        controller_manager: image("kube-controller-manager"),
        scheduler: image("kube-scheduler"),
        proxy: image("kube-proxy"),
        etcd: format!("{repository}/etcd:3.6.5-0"),
        coredns: format!("{repository}/coredns/coredns:v1.12.1"),
        pause: format!("{repository}/pause:3.10.1"),
    };
    Ok((version, images))
}
