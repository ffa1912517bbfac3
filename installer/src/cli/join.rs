//! `airadm join [ENDPOINT] [phase NAME [SUB]]`, with kubeadm's join flags.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches as _};

use crate::kubeadm::config::JoinFlags;
use crate::phases::join::JoinOptions;

/// `airadm join`.
#[derive(Debug, Args)]
pub struct JoinCommand {
    /// The phase `airadm join phase NAME` selected, set by [`JoinCommand::select_phase`].
    #[arg(skip)]
    pub phase: Option<String>,
    /// kubeadm's flags and ours.
    #[command(flatten)]
    pub args: JoinArgs,
}

impl JoinCommand {
    /// Takes the phase subcommand's selection and flags from `matches` (those of `join`).
    pub fn select_phase(&mut self, matches: &ArgMatches, command: &clap::Command) -> anyhow::Result<()> {
        if let Some((filter, leaf)) = crate::workflow::command::selected(&crate::phases::join::runner(), matches, command)? {
            crate::workflow::command::refuse_flags_before_phase(matches, command, &filter)?;
            self.args = JoinArgs::from_arg_matches(leaf)?;
            self.phase = Some(filter);
        }
        Ok(())
    }

    /// The options of the join workflow.
    pub fn options(self) -> anyhow::Result<JoinOptions> {
        let a = self.args;
        let mixed = mixed_with_config(&a);
        if a.config.is_some() && !mixed.is_empty() {
            anyhow::bail!("can not mix '--config' with arguments [{}]: set them in the --config file instead", mixed.join(" "));
        }
        let bundle = a.bundle.ok_or_else(|| anyhow::anyhow!("--bundle FILE is required: airadm takes the version and images from it"))?;
        Ok(JoinOptions {
            config: a.config,
            flags: JoinFlags {
                endpoint: a.endpoint,
                token: a.token,
                discovery_token: a.discovery_token,
                ca_cert_hashes: a.discovery_token_ca_cert_hash,
                unsafe_skip_ca_verification: a.discovery_token_unsafe_skip_ca_verification,
                discovery_file: a.discovery_file,
                tls_bootstrap_token: a.tls_bootstrap_token,
                node_name: a.node_name,
                cri_socket: a.cri_socket,
                control_plane: a.control_plane,
                certificate_key: a.certificate_key,
                advertise_address: a.apiserver_advertise_address,
                bind_port: a.apiserver_bind_port,
                ignore_preflight_errors: a.ignore_preflight_errors,
                skip_phases: a.skip_phases,
                patches: a.patches,
            },
            bundle,
            trusted_keys: a.trusted_keys,
            signature: a.signature,
            rootfs: a.rootfs,
            dry_run: a.dry_run,
            arch: a.arch,
            bin_dir: a.bin_dir,
            force_binaries: a.force_binaries,
            phase: self.phase,
        })
    }
}

/// Flags of `airadm join` (kubeadm's, plus --bundle, --trusted-key, --rootfs, --arch, …).
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The API server to discover the cluster from (`host:port`).
    pub endpoint: Option<String>,
    /// The bundle: the node's images and binaries, of the cluster's version.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole bundle file (default: BUNDLE.minisig when present).
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// kubeadm config file (JoinConfiguration v1beta3/v1beta4).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Token for both discovery and the TLS bootstrap.
    #[arg(long)]
    pub token: Option<String>,
    /// Token for discovery.
    #[arg(long)]
    pub discovery_token: Option<String>,
    /// Pin of the cluster CA's public key (`sha256:…`); repeatable.
    #[arg(long, value_delimiter = ',')]
    pub discovery_token_ca_cert_hash: Vec<String>,
    /// Trust the CA cluster-info names, without a pin.
    #[arg(long)]
    pub discovery_token_unsafe_skip_ca_verification: bool,
    /// A kubeconfig file naming the cluster (file discovery).
    #[arg(long)]
    pub discovery_file: Option<String>,
    /// Token of the kubelet's TLS bootstrap (default: the discovery token).
    #[arg(long)]
    pub tls_bootstrap_token: Option<String>,
    /// Node name (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// CRI socket (default: the one of kubeadm's known sockets that exists).
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Join as another control-plane node.
    #[arg(long)]
    pub control_plane: bool,
    /// Key decrypting the kubeadm-certs Secret (with --control-plane).
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// The address this control-plane node's API server advertises (with --control-plane).
    #[arg(long)]
    pub apiserver_advertise_address: Option<String>,
    /// The port this control-plane node's API server binds (with --control-plane).
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    /// Preflight checks whose errors become warnings (`all`, or names).
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip.
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Write the files to a temp dir and say what would be done; nothing on the node changes.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory of kubeadm patches.
    #[arg(long)]
    pub patches: Option<String>,
    /// Write every file below this directory instead of `/`.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Accept a bundle for this architecture (default: this node's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Where the `binaries` phase puts kubelet, kubectl, kubeadm, crictl and airadm.
    #[arg(long, default_value = crate::binaries::DEFAULT_BIN_DIR)]
    pub bin_dir: String,
    /// Replace an existing binary that differs from the bundle's.
    #[arg(long)]
    pub force_binaries: bool,
}

/// The flags given that kubeadm refuses next to `--config` (they set JoinConfiguration fields),
/// sorted by name.
pub fn mixed_with_config(a: &JoinArgs) -> Vec<&'static str> {
    let mut given: Vec<&'static str> = [
        ("token", a.token.is_some()),
        ("discovery-token", a.discovery_token.is_some()),
        ("discovery-token-ca-cert-hash", !a.discovery_token_ca_cert_hash.is_empty()),
        ("discovery-token-unsafe-skip-ca-verification", a.discovery_token_unsafe_skip_ca_verification),
        ("discovery-file", a.discovery_file.is_some()),
        ("tls-bootstrap-token", a.tls_bootstrap_token.is_some()),
        ("cri-socket", a.cri_socket.is_some()),
        ("control-plane", a.control_plane),
        ("certificate-key", a.certificate_key.is_some()),
        ("apiserver-advertise-address", a.apiserver_advertise_address.is_some()),
        ("apiserver-bind-port", a.apiserver_bind_port.is_some()),
        ("patches", a.patches.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    given.sort_unstable();
    given
}
