//! `airadm config print init-defaults|join-defaults|reset-defaults` and `airadm config images list`, as kubeadm's.

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
