//! `airadm certs check-expiration` and `certs renew` (kubeadm: `kubeadm certs …`). The
//! certificates directory, external etcd, key algorithm and validity come from `--config` (and
//! `--cert-dir`); `renew` without `--config` asks the cluster through `--kubeconfig`, as kubeadm
//! does, and falls back to the defaults when it does not answer.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::kubeadm::certs::{expiration, renew};
use crate::kubeadm::config::{self, defaults};
use crate::kubeadm::files::Root;

/// `airadm certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Check certificates expiration for a Kubernetes cluster.
    CheckExpiration(CheckExpirationArgs),
    /// Renew certificates for a Kubernetes cluster: `all`, or one of kubeadm's names (apiserver, admin.conf, …).
    Renew(RenewArgs),
    /// Generate a certificate key: the key `init --upload-certs --certificate-key` encrypts the kubeadm-certs Secret with.
    CertificateKey,
}

/// `airadm certs renew NAME|all`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    /// `all`, or the certificate: apiserver, apiserver-etcd-client, apiserver-kubelet-client, etcd-healthcheck-client, etcd-peer, etcd-server, front-proxy-client, admin.conf, super-admin.conf, controller-manager.conf, scheduler.conf.
    pub name: String,
    /// kubeadm config file (its ClusterConfiguration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The path where the certificates are stored (default /etc/kubernetes/pki).
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// The kubeconfig file to use when talking to the cluster (a node path).
    #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
    pub kubeconfig: String,
    /// The node's files are below this directory.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
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
pub async fn run(command: CertsCommand) -> anyhow::Result<()> {
    let args = match command {
        CertsCommand::CheckExpiration(args) => args,
        CertsCommand::Renew(args) => return renew(args).await,
        CertsCommand::CertificateKey => {
            writeln!(std::io::stdout().lock(), "{}", crate::kubeadm::api::create_certificate_key())?;
            return Ok(());
        }
    };
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

/// `airadm certs renew`: kubeadm's `renewCert` for the one named, or each in turn for `all`.
async fn renew(args: RenewArgs) -> anyhow::Result<()> {
    let root = Root::rootfs(args.rootfs.as_deref());
    let mut out = std::io::stdout().lock();
    let cluster = match &args.config {
        Some(path) => config::parse_documents(&fs_err::read_to_string(path)?, &path.display().to_string())?.cluster.unwrap_or_default(),
        None => {
            let asked =
                crate::phases::client::cluster_configuration(&root, &args.kubeconfig, crate::phases::client::CLUSTER_ANSWER_TIMEOUT).await;
            match asked {
                Ok((_, cluster)) => {
                    writeln!(out, "[renew] Reading configuration from the cluster...")?;
                    writeln!(
                        out,
                        "[renew] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'\n"
                    )?;
                    cluster
                }
                Err(e) => {
                    tracing::info!("the cluster's kubeadm-config: {e:#}");
                    writeln!(out, "[renew] Error reading configuration from the Cluster. Falling back to default configuration\n")?;
                    Default::default()
                }
            }
        }
    };
    let version = config::Version::parse(cluster.kubernetes_version.as_deref().unwrap_or("v1.37.0")).ok_or_else(|| {
        anyhow::anyhow!("kubernetesVersion `{}` is not a version", cluster.kubernetes_version.clone().unwrap_or_default())
    })?;
    let validity_text = cluster.certificate_validity_period.clone().unwrap_or_else(|| "8760h0m0s".into());
    let cfg = renew::RenewConfig {
        cert_dir: args.cert_dir.clone().or(cluster.certificates_dir.clone()).unwrap_or_else(|| defaults::CERTIFICATES_DIR.into()),
        external_etcd: cluster.etcd.as_ref().is_some_and(|e| e.external.is_some()),
        algorithm: config::KeyAlgorithm::parse(cluster.encryption_algorithm.as_deref().unwrap_or_default(), &version)?,
        validity: config::parse_duration(&validity_text)
            .ok_or_else(|| anyhow::anyhow!("certificateValidityPeriod `{validity_text}` is not a duration like 8760h0m0s"))?,
    };
    root.check("--cert-dir", &cfg.cert_dir)?;
    let all = renew::renewables(cfg.external_etcd);
    let chosen: Vec<&renew::Renewable> = match args.name.as_str() {
        "all" => all.iter().collect(),
        name => vec![all.iter().find(|r| r.name == name).ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|r| r.name).collect();
            anyhow::anyhow!("`{name}` is not a certificate kubeadm renews: use all, {}", names.join(", "))
        })?],
    };
    let now = std::time::SystemTime::now();
    for r in &chosen {
        let outcome = renew::renew(&root, &cfg, r, now)?;
        writeln!(out, "{}", renew::line(r, &outcome))?;
    }
    if args.name == "all" {
        writeln!(
            out,
            "\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates."
        )?;
    }
    Ok(())
}
