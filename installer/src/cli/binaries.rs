//! `airadm binaries install|list`: the node's own binaries from a bundle, for a node that only
//! needs the tools (init and join install them in their `binaries` phase).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::binaries::{self, InstallOptions};
use crate::kubeadm::files::Root;
use crate::trusted_keys;

/// `airadm binaries …`.
#[derive(Debug, Subcommand)]
pub enum BinariesCommand {
    /// Verify a bundle and install its binaries (kubelet, kubectl, kubeadm, crictl, CNI plugins, airadm).
    Install(InstallArgs),
    /// List a bundle's binaries and whether this node has each (the signature is checked).
    List(ListArgs),
}

/// Where the binaries go, shared by `binaries install` and `init`.
#[derive(Debug, Clone, Args)]
pub struct PlacementArgs {
    /// Directory for kubelet, kubectl, kubeadm, crictl and airadm (CNI plugins go to /opt/cni/bin).
    #[arg(long, default_value = binaries::DEFAULT_BIN_DIR)]
    pub bin_dir: String,
    /// Replace an existing binary that differs from the bundle's (otherwise it is kept and reported).
    #[arg(long)]
    pub force_binaries: bool,
}

/// `airadm binaries install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The bundle (.tar.zst).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole file (default: BUNDLE.minisig when present).
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// Accept a bundle for this architecture (default: this node's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Install below this directory instead of `/`.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Where they go.
    #[command(flatten)]
    pub placement: PlacementArgs,
    /// Verify and say what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `airadm binaries list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The bundle (.tar.zst).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Look below this directory instead of `/`.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Directory of the non-CNI binaries.
    #[arg(long, default_value = binaries::DEFAULT_BIN_DIR)]
    pub bin_dir: String,
}

/// Runs `airadm binaries …`.
pub async fn run(command: BinariesCommand) -> anyhow::Result<()> {
    match command {
        BinariesCommand::Install(args) => tokio::task::spawn_blocking(move || install(args)).await?,
        BinariesCommand::List(args) => list(args),
    }
}

fn install(args: InstallArgs) -> anyhow::Result<()> {
    let keys = trusted_keys::load(&args.trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
    let options = InstallOptions {
        opened: fs_err::File::open(&args.bundle)?.into_parts().0,
        file_signature: crate::bundle_file::detached_signature(&args.bundle, args.signature.as_deref())?,
        bundle: args.bundle,
        keys,
        target: binaries::Target {
            expected: None,
            arch: args.arch.unwrap_or_else(|| crate::import::node_arch().to_owned()),
            root: Root::rootfs(args.rootfs.as_deref()),
            bin_dir: args.placement.bin_dir,
            force: args.placement.force_binaries,
            dry_run: args.dry_run,
        },
    };
    let (_, lines) = binaries::install(&options)?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let manifest = super::manifest_verified(&args.bundle, &args.trusted_keys)?;
    let root = Root::rootfs(args.rootfs.as_deref());
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<10} {:<12} {:<24} {:<10} SHA256", "NAME", "VERSION", "DESTINATION", "ON NODE")?;
    for binary in &manifest.binaries {
        let destination = binaries::destination(binary, &args.bin_dir);
        let state = match binaries::existing_digest(&root, &destination)? {
            None => "missing",
            Some(d) if d == binary.sha256 => "installed",
            Some(_) => "differs",
        };
        let version = binary.version.as_deref().unwrap_or("-");
        writeln!(out, "{:<10} {:<12} {:<24} {:<10} {}", binary.name, version, destination, state, binary.sha256.hex())?;
    }
    Ok(())
}
