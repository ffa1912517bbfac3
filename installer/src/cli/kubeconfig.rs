//! `airadm kubeconfig user` (kubeadm: `kubeadm kubeconfig user`): a kubeconfig for another
//! user, printed to standard output. The cluster's name, endpoint, certificate directory and key
//! algorithm come from `--config` (an InitConfiguration and ClusterConfiguration), else kubeadm's
//! defaults; the CA from the certificate directory.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::kubeadm::config::{self, KeyAlgorithm, Version, defaults, host_port, split_host_port};
use crate::kubeadm::files::Root;
use crate::kubeadm::kubeconfig::{UserRequest, user_kubeconfig};

/// `airadm kubeconfig …`.
#[derive(Debug, Subcommand)]
pub enum KubeconfigCommand {
    /// Output a kubeconfig file for an additional user.
    User(UserArgs),
}

/// `airadm kubeconfig user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// The name of user. It will be used as the CN if client certificates are created.
    #[arg(long)]
    pub client_name: String,
    /// The organization of the client certificate (its O). airadm takes one.
    #[arg(long, value_delimiter = ',')]
    pub org: Vec<String>,
    /// The token that should be used as the authentication mechanism for this kubeconfig, instead of client certificates.
    #[arg(long)]
    pub token: Option<String>,
    /// The validity period of the client certificate, from now (a Go duration: 8760h0m0s).
    #[arg(long, default_value = "8760h0m0s")]
    pub validity_period: String,
    /// kubeadm config file (InitConfiguration, ClusterConfiguration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Read the CA below this directory.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
}

/// Runs `airadm kubeconfig …`.
pub fn run(command: KubeconfigCommand) -> anyhow::Result<()> {
    let KubeconfigCommand::User(args) = command;
    anyhow::ensure!(
        args.org.len() <= 1,
        "--org: airadm writes one organization into the certificate, {} were given: pass one",
        args.org.len()
    );
    let validity = config::parse_duration(&args.validity_period)
        .with_context(|| format!("--validity-period `{}` is not a duration like 8760h0m0s", args.validity_period))?;
    if validity > Duration::from_secs(365 * 24 * 3600) {
        tracing::warn!(
            "WARNING: the specified certificate validity period {} is longer than the default duration 8760h0m0s, this may increase security risks.",
            args.validity_period
        );
    }
    let docs = match &args.config {
        Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?,
        None => config::Documents::default(),
    };
    let cluster = docs.cluster.unwrap_or_default();
    let endpoint = docs.init.and_then(|i| i.local_api_endpoint).unwrap_or_default();
    let version = Version::parse(cluster.kubernetes_version.as_deref().unwrap_or("v1.37.0"))
        .with_context(|| format!("kubernetesVersion `{}` is not a version", cluster.kubernetes_version.clone().unwrap_or_default()))?;
    let bind_port = endpoint.bind_port.unwrap_or(6443);
    // kubeadm's GetControlPlaneEndpoint: the control-plane endpoint (with the bind port when it
    // names none), else the advertise address, from the default route when not given.
    let server = match cluster.control_plane_endpoint.as_deref().filter(|e| !e.is_empty()) {
        Some(given) => {
            let (host, port) = split_host_port(given);
            format!("https://{}", host_port(host, port.unwrap_or(bind_port)))
        }
        None => {
            let address = match endpoint.advertise_address.filter(|a| !a.is_empty()) {
                Some(address) => address,
                None => crate::phases::host::host_facts(true, &Root::rootfs(None))?
                    .default_address
                    .context("this node has no default route to choose an address from: set localAPIEndpoint.advertiseAddress in --config")?
                    .to_string(),
            };
            format!("https://{}", host_port(&address, bind_port))
        }
    };
    let cert_dir = cluster.certificates_dir.clone().unwrap_or_else(|| defaults::CERTIFICATES_DIR.into());
    let root = Root::rootfs(args.rootfs.as_deref());
    let ca_path = format!("{}/ca.crt", cert_dir.trim_end_matches('/'));
    let key_path = format!("{}/ca.key", cert_dir.trim_end_matches('/'));
    let ca = root.read(&ca_path)?.with_context(|| format!("couldn't create a kubeconfig; the CA file `{ca_path}` does not exist"))?;
    let ca_key = root.read(&key_path)?;
    let now = SystemTime::now();
    let request = UserRequest {
        cluster_name: cluster.cluster_name.as_deref().unwrap_or("kubernetes"),
        server: &server,
        client: &args.client_name,
        organization: args.org.first().map(String::as_str),
        token: args.token.as_deref(),
        not_after: now + validity,
        algorithm: KeyAlgorithm::parse(cluster.encryption_algorithm.as_deref().unwrap_or_default(), &version)?,
        minor: version.minor,
    };
    let text = user_kubeconfig(&request, &ca, ca_key.as_deref(), &ca_path, now)?;
    // kubeadm prints the file with Fprintln: one more newline.
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}
