//! `airadm`'s command line (clap only) and its ≤15-line handlers, one module per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub mod binaries;
pub mod certs;
pub mod completion;
pub mod config;
pub mod images;
pub mod init;
pub mod join;
pub mod kubeconfig;
pub mod reset;
pub mod token;
pub mod verify;
pub mod version;

/// A bundle's manifest read without checking its signature: for display only, never to decide
/// what to trust.
pub fn manifest_unverified(bundle: &std::path::Path) -> anyhow::Result<bundle::Manifest> {
    use anyhow::Context as _;
    bundle::reader::read_manifest_unverified(std::io::BufReader::new(fs_err::File::open(bundle)?))
        .with_context(|| format!("`{}`", bundle.display()))
}

/// The tracing filter `--log-level` (or `AIRADM_LOG`, `from_env`) gives. An invalid one is an
/// error naming where it came from, never silently the default.
pub fn log_filter(text: &str, from_env: bool) -> anyhow::Result<tracing_subscriber::EnvFilter> {
    tracing_subscriber::EnvFilter::try_new(text).map_err(|e| {
        let origin = if from_env { "AIRADM_LOG" } else { "--log-level" };
        anyhow::anyhow!("{origin} `{text}` is not a log filter ({e}): use tracing's syntax, e.g. `info` or `warn,installer=debug`")
    })
}

/// A bundle's manifest with its signature checked against `--trusted-key` (default: the keys in
/// /etc/airadm/trusted-keys): what `images check` and `config …` trust. The blobs are not read.
pub fn manifest_verified(bundle: &std::path::Path, trusted_keys: &[PathBuf]) -> anyhow::Result<bundle::Manifest> {
    use anyhow::Context as _;
    let keys = crate::trusted_keys::load(trusted_keys, std::path::Path::new(crate::trusted_keys::TRUSTED_KEYS_DIR))?;
    bundle::reader::read_manifest_verified(std::io::BufReader::new(fs_err::File::open(bundle)?), &keys)
        .with_context(|| format!("`{}`", bundle.display()))
}

/// The command line, with the `phase` subcommands of the workflows made from their phase trees.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .mut_subcommand("init", |init| crate::workflow::command::bind(&crate::phases::init::runner(), init, crate::phases::init::OWN_FLAGS))
        .mut_subcommand("join", |join| crate::workflow::command::bind(&crate::phases::join::runner(), join, crate::phases::join::OWN_FLAGS))
        .mut_subcommand("reset", |reset| {
            crate::workflow::command::bind(&crate::phases::reset::runner(), reset, crate::phases::reset::OWN_FLAGS)
        })
}

/// Parses a command line built by [`command`]: the derived structs, then the phase selected.
pub fn from_matches(matches: &clap::ArgMatches) -> anyhow::Result<Cli> {
    use clap::FromArgMatches as _;
    let mut cli = Cli::from_arg_matches(matches)?;
    let root = command();
    let sub = |name: &str| root.find_subcommand(name).ok_or_else(|| anyhow::anyhow!("internal error: no {name} command"));
    match (&mut cli.command, matches.subcommand()) {
        (Command::Init(init), Some(("init", m))) => init.select_phase(m, sub("init")?)?,
        (Command::Join(join), Some(("join", m))) => join.select_phase(m, sub("join")?)?,
        (Command::Reset(reset), Some(("reset", m))) => reset.select_phase(m, sub("reset")?)?,
        _ => {}
    }
    Ok(cli)
}

/// [`command`] then [`from_matches`] on `args` (for tests).
pub fn parse_from<I, T>(args: I) -> anyhow::Result<Cli>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    from_matches(&command().try_get_matches_from(args)?)
}

/// Brings up Kubernetes nodes from an airbundle bundle, with no network, kubeadm-compatible.
#[derive(Debug, Parser)]
#[command(name = "airadm", version = bundle::long_version!(), about)]
pub struct Cli {
    /// Log filter (tracing's syntax), also from AIRADM_LOG (kube-rs's own errors are off: airadm reports them).
    #[arg(long, global = true, env = "AIRADM_LOG", default_value = "warn,kube_client=off")]
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
    /// Import a bundle's images into the container runtime, or inspect them.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Install a bundle's node binaries (kubelet, kubectl, kubeadm, crictl, CNI plugins), or list them.
    #[command(subcommand)]
    Binaries(binaries::BinariesCommand),
    /// Bring up a control-plane node (kubeadm init), or run one of its phases.
    Init(Box<init::InitCommand>),
    /// Join this node to a cluster as a worker or another control plane (kubeadm join), or run one of its phases.
    Join(Box<join::JoinCommand>),
    /// Performs a best effort revert of changes made to this host by 'airadm init' or 'airadm join' (kubeadm reset).
    Reset(Box<reset::ResetCommand>),
    /// Manage bootstrap tokens (kubeadm token).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Certificates: check their expiration, renew them (kubeadm certs).
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Print the shell completion script for airadm (bash or zsh), to be sourced.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: completion::Shell,
    },
    /// kubeadm configuration: print defaults, list images, validate a file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Kubeconfig file utilities (kubeadm kubeconfig).
    #[command(subcommand)]
    Kubeconfig(kubeconfig::KubeconfigCommand),
    /// Print the version of airadm (kubeadm version).
    Version {
        /// Output format: short, json or yaml.
        #[arg(long, short)]
        output: Option<String>,
    },
}

/// `airadm images …`.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Verify a bundle and import its images into the runtime behind the CRI socket.
    Import(ImagesImportArgs),
    /// List the images a bundle holds.
    List(ImagesListArgs),
    /// Show which of a bundle's images the runtime has (over CRI).
    Check(ImagesCheckArgs),
}

/// `airadm images import`.
#[derive(Debug, Args)]
pub struct ImagesImportArgs {
    /// The bundle (.tar.zst); `-` reads standard input.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole file (default: BUNDLE.minisig when present).
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// CRI endpoint (default: the one of kubeadm's known sockets that exists).
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Accept a bundle for this architecture (default: this node's).
    #[arg(long)]
    pub arch: Option<String>,
    /// containerd snapshotter to unpack into (default: the one containerd's CRI plugin reports,
    /// else overlayfs).
    #[arg(long)]
    pub snapshotter: Option<String>,
    /// The runtime, instead of asking the CRI socket: `containerd`; `cri-o` (imports into the
    /// containers-storage of storage.conf / CONTAINERS_STORAGE_CONF with skopeo); `docker`
    /// (cri-dockerd: loads into the Docker Engine at --docker-socket).
    #[arg(long, value_parser = ["containerd", "cri-o", "docker"])]
    pub runtime: Option<String>,
    /// Docker Engine API socket, for cri-dockerd (`--runtime docker`).
    #[arg(long, default_value = "/var/run/docker.sock")]
    pub docker_socket: PathBuf,
    /// CRI-O's configuration directory (crio.conf and crio.conf.d/), read for its pause_image.
    #[arg(long, default_value = crate::runtime::crio::CONFIG_DIR)]
    pub crio_config_dir: PathBuf,
    /// Where CRI-O imports stage the verified OCI layout (removed afterwards).
    #[arg(long, default_value = "/var/tmp")]
    pub staging_dir: PathBuf,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Verify and report what would be imported, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `airadm images list`.
#[derive(Debug, Args)]
pub struct ImagesListArgs {
    /// The bundle (.tar.zst).
    #[arg(long)]
    pub bundle: PathBuf,
}

/// `airadm images check`.
#[derive(Debug, Args)]
pub struct ImagesCheckArgs {
    /// The bundle (.tar.zst).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// CRI endpoint (default: the one of kubeadm's known sockets that exists).
    #[arg(long)]
    pub cri_socket: Option<String>,
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_invalid_log_filter_names_the_flag_or_variable_it_came_from() {
        for valid in ["warn,kube_client=off", "info", "installer=debug,warn"] {
            super::log_filter(valid, true).unwrap();
        }
        for (text, from_env, origin) in [("installer=loud", true, "AIRADM_LOG"), ("=", false, "--log-level"), ("a[", true, "AIRADM_LOG")] {
            let err = super::log_filter(text, from_env).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{origin} `{text}` is not a log filter (")), "{err}");
            assert!(err.ends_with("): use tracing's syntax, e.g. `info` or `warn,installer=debug`"), "{err}");
        }
    }
}
