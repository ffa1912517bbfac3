//! `airadm`'s command line (clap only) and its ≤15-line handlers, one module per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod verify;

/// Brings up Kubernetes nodes from an airbundle bundle, with no network, kubeadm-compatible.
#[derive(Debug, Parser)]
#[command(name = "airadm", version, about)]
pub struct Cli {
    /// Log filter (tracing's syntax), also from AIRADM_LOG.
    #[arg(long, global = true, env = "AIRADM_LOG", default_value = "warn")]
    pub log_level: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a bundle's signature and every entry's hash in one streaming pass.
    Verify(VerifyArgs),
}

/// `airadm verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle (.tar.zst); `-` reads standard input.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole file (default: BUNDLE.minisig when present).
    #[arg(long)]
    pub signature: Option<PathBuf>,
}
