//! `airbundle`: run on a connected machine, it pulls the images kubeadm needs for one
//! Kubernetes version (control plane, kube-proxy, etcd, CoreDNS, pause), pre-renders configs, and
//! writes one signed, reproducible, zstd-compressed bundle per CPU architecture.
//!
//! The bundle format itself lives in the `bundle` crate; this crate owns the version catalog,
//! registry access (auth, retries, streaming into a content-addressed cache), progress display
//! and the build orchestration. It does not install anything.

pub mod auth;
pub mod binaries;
pub mod build;
pub mod cache;
pub mod catalog;
pub mod cli;
mod commands;
pub mod output;
pub mod prerender;
pub mod progress;
pub mod registry;

/// Runs a parsed command line.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Build(args) => commands::build(*args).await,
        cli::Command::ListImages(args) => commands::list_images(args),
        cli::Command::Keygen(args) => commands::keygen(args),
        cli::Command::Inspect(args) => commands::inspect(args),
        cli::Command::Version(args) => commands::version(&args),
    }
}
