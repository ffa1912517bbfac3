//! `airadm certs check-expiration` (kubeadm: `kubeadm certs check-expiration`), offline: the
//! certificates directory and external etcd come from `--config` (or `--cert-dir`), not from the
//! cluster.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::kubeadm::certs::expiration;
use crate::kubeadm::config::{self, defaults};
use crate::kubeadm::files::Root;

/// `airadm certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Check certificates expiration for a Kubernetes cluster.
    CheckExpiration(CheckExpirationArgs),
}

/// `airadm certs check-expiration`.
#[derive(Debug, Args)]
pub struct CheckExpirationArgs {
    /// kubeadm config file (its ClusterConfiguration's certificatesDir and etcd).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The path where the certificates are stored (default /etc/kubernetes/pki).
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// Read the node's files below this directory.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
}

/// Runs `airadm certs …`.
pub fn run(command: CertsCommand) -> anyhow::Result<()> {
    let CertsCommand::CheckExpiration(args) = command;
    let cluster = match &args.config {
        Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?.cluster.unwrap_or_default(),
        None => Default::default(),
    };
    let cert_dir = args.cert_dir.clone().or(cluster.certificates_dir.clone()).unwrap_or_else(|| defaults::CERTIFICATES_DIR.into());
    let external_etcd = cluster.etcd.as_ref().is_some_and(|e| e.external.is_some());
    let root = Root::rootfs(args.rootfs.as_deref());
    root.check("--cert-dir", &cert_dir)?;
    let (leaves, cas) = expiration::read(&root, &cert_dir, external_etcd)?;
    write!(std::io::stdout().lock(), "{}", expiration::table(&leaves, &cas, std::time::SystemTime::now()))?;
    Ok(())
}
