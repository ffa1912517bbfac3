//! `airadm`: run on a node with no network. It verifies an airbundle bundle against trusted
//! keys, imports its images into the node's container runtime and runs kubeadm's `init` phases
//! offline (`join` and the API phases come next).
//!
//! It never downloads anything and has no way to skip signature verification.

pub mod binaries;
pub mod bundle_file;
pub mod cli;
pub mod cni;
pub mod import;
pub mod kubeadm;
pub mod phases;
pub mod progress;
pub mod runtime;
pub mod trusted_keys;
pub mod workflow;

/// Runs a parsed command line.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Verify(args) => tokio::task::spawn_blocking(move || cli::verify::run(args)).await?,
        cli::Command::Images(cli::ImagesCommand::Import(args)) => cli::images::import(args).await,
        cli::Command::Images(cli::ImagesCommand::List(args)) => cli::images::list(args),
        cli::Command::Images(cli::ImagesCommand::Check(args)) => cli::images::check(args).await,
        cli::Command::Binaries(command) => cli::binaries::run(command).await,
        cli::Command::Init(command) => phases::init::run(command.options()?).await,
        cli::Command::Join(command) => phases::join::run(command.options()?).await,
        cli::Command::Reset(command) => phases::reset::run(command.options()?).await,
        cli::Command::Token(command) => cli::token::run(command).await,
        cli::Command::Completion { shell } => cli::completion::run(shell),
        cli::Command::Certs(command) => cli::certs::run(command).await,
        cli::Command::Config(command) => cli::config::run(command),
        cli::Command::Kubeconfig(command) => cli::kubeconfig::run(command),
        cli::Command::Version { output } => cli::version::run(output.as_deref()),
    }
}
