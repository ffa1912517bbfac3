//! `airadm token create|list|delete|generate` (kubeadm: cmd/kubeadm/app/cmd/token.go), against
//! the cluster of `--kubeconfig` (default `/etc/kubernetes/admin.conf`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context as _;
use bundle::kubeadm::BootstrapToken;
use clap::{Args, Subcommand};
use k8s_openapi::api::core::v1::Secret;

use crate::kubeadm::api::{self, JoinAs};
use crate::kubeadm::config;
use crate::kubeadm::discovery;
use crate::kubeadm::files::Root;

/// `airadm token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the server.
    Create(CreateArgs),
    /// List the bootstrap tokens on the server.
    List(KubeconfigArgs),
    /// Delete bootstrap tokens on the server.
    Delete(DeleteArgs),
    /// Generate and print a bootstrap token, but do not create it on the server.
    Generate,
}

/// The cluster to talk to.
#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    /// The kubeconfig file to use when talking to the cluster.
    #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
    pub kubeconfig: String,
    /// Read the kubeconfig below this directory.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
}

/// `airadm token create [TOKEN]`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The token (default: generated).
    pub token: Option<String>,
    /// The cluster.
    #[command(flatten)]
    pub cluster: KubeconfigArgs,
    /// A human friendly description of how this token is used.
    #[arg(long)]
    pub description: Option<String>,
    /// Extra groups that this token will authenticate as when used for authentication.
    #[arg(long, value_delimiter = ',', default_value = "system:bootstrappers:kubeadm:default-node-token")]
    pub groups: Vec<String>,
    /// The duration before the token is automatically deleted (`0` never expires).
    #[arg(long, default_value = "24h0m0s")]
    pub ttl: String,
    /// Describes the ways in which this token can be used.
    #[arg(long, value_delimiter = ',', default_value = "signing,authentication")]
    pub usages: Vec<String>,
    /// Instead of printing only the token, print the full join command that uses it.
    #[arg(long)]
    pub print_join_command: bool,
    /// With --print-join-command: print the control-plane join command with this certificate key.
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// With --print-join-command: the bundle file the joining node gets (`--bundle` of the line).
    #[arg(long)]
    pub bundle: Option<String>,
}

/// `airadm token delete TOKEN…`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Tokens (`abcdef.0123456789abcdef`) or token ids (`abcdef`).
    #[arg(required = true)]
    pub tokens: Vec<String>,
    /// The cluster.
    #[command(flatten)]
    pub cluster: KubeconfigArgs,
}

/// Runs `airadm token …`.
pub async fn run(command: TokenCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Generate => writeln!(out, "{}", config::generate_token())?,
        TokenCommand::Create(args) => {
            let lines = create(args).await?;
            writeln!(out, "{lines}")?;
        }
        TokenCommand::List(args) => {
            let secrets = list(&args).await?;
            write!(out, "{}", crate::kubeadm::token::table(&secrets, SystemTime::now()))?;
        }
        TokenCommand::Delete(args) => {
            let client = client(&args.cluster).await?;
            for token in &args.tokens {
                let id = token.split('.').next().unwrap_or_default();
                let valid = id.len() == 6 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                anyhow::ensure!(
                    valid,
                    "given token or token id {token:?} didn't match pattern \"[a-z0-9]{{6}}\" or \"[a-z0-9]{{6}}.[a-z0-9]{{16}}\""
                );
                let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), api::KUBE_SYSTEM);
                secrets
                    .delete(&api::token_secret_name(id), &Default::default())
                    .await
                    .with_context(|| format!("failed to delete bootstrap token {id:?}"))?;
                writeln!(out, "bootstrap token {id:?} deleted")?;
            }
        }
    }
    Ok(())
}

async fn client(args: &KubeconfigArgs) -> anyhow::Result<kube::Client> {
    crate::phases::client::kube_client(&Root::rootfs(args.rootfs.as_deref()), &args.kubeconfig).await
}

/// Creates the token; returns the token, or the join command with it.
async fn create(args: CreateArgs) -> anyhow::Result<String> {
    let text = args.token.clone().unwrap_or_else(config::generate_token);
    discovery::Token::parse(&text)?;
    let token = BootstrapToken {
        token: Some(text.clone()),
        description: args.description.clone(),
        ttl: Some(args.ttl.clone()),
        usages: Some(args.usages.clone()),
        groups: Some(args.groups.clone()),
        ..Default::default()
    };
    let client = client(&args.cluster).await?;
    api::update_or_create_tokens(&client, true, &[token], SystemTime::now()).await?;
    if !args.print_join_command {
        return Ok(text);
    }
    // The endpoint and the CA pin come from the kubeconfig's cluster, as kubeadm's do.
    let root = Root::rootfs(args.cluster.rootfs.as_deref());
    let kubeconfig = crate::phases::client::read_node_file(&root, &args.cluster.kubeconfig)?;
    let cluster = discovery::cluster_of(&String::from_utf8_lossy(&kubeconfig)).with_context(|| format!("`{}`", args.cluster.kubeconfig))?;
    let endpoint = cluster.server.trim_start_matches("https://").to_owned();
    let hashes = vec![api::ca_cert_hash(&cluster.ca_pem)?];
    let join_as = match &args.certificate_key {
        Some(key) => JoinAs::ControlPlane(Some(key)),
        None => JoinAs::Worker,
    };
    // kubeadm's token create prints the join template on one line (its continuations dropped).
    Ok(api::join_command("airadm", &endpoint, &text, &hashes, args.bundle.as_deref(), join_as).replace("\\\n\t", ""))
}

async fn list(args: &KubeconfigArgs) -> anyhow::Result<Vec<Secret>> {
    let client = client(args).await?;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client, api::KUBE_SYSTEM);
    let params = kube::api::ListParams::default().fields(&format!("type={}", api::SECRET_TYPE_BOOTSTRAP_TOKEN));
    Ok(secrets.list(&params).await.context("failed to list bootstrap tokens")?.items)
}
