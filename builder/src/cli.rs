//! `airbundle`'s command line (clap only, no logic).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::registry::Mirror;

/// Builds signed, reproducible air-gap bundles of a Kubernetes version's control-plane images.
#[derive(Debug, Parser)]
#[command(name = "airbundle", version = bundle::long_version!(), about)]
pub struct Cli {
    /// Log filter (tracing's syntax), also from AIRBUNDLE_LOG.
    #[arg(long, global = true, env = "AIRBUNDLE_LOG", default_value = "warn")]
    pub log_level: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pull the images of a Kubernetes version and write one signed bundle per architecture.
    Build(Box<BuildArgs>),
    /// Print the images kubeadm of a Kubernetes version uses, like `kubeadm config images list`.
    ListImages(ListImagesArgs),
    /// Generate a minisign key pair for signing bundles.
    Keygen(KeygenArgs),
    /// Show a bundle's version, architecture and images (the signature is not checked).
    Inspect(InspectArgs),
    /// Print the version, git commit, target and build date, as `kubeadm version` does.
    Version(VersionArgs),
}

/// Version-catalog overrides shared by `build` and `list-images`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Kubernetes version (v1.31.2).
    #[arg(long)]
    pub kubernetes_version: String,
    /// Image repository the cluster names its images under (kubeadm's imageRepository).
    #[arg(long)]
    pub image_repository: Option<String>,
    /// etcd image tag instead of the catalog's (kubeadm's etcd.local.imageTag).
    #[arg(long)]
    pub etcd_version: Option<String>,
    /// CoreDNS image tag instead of the catalog's (kubeadm's dns.imageTag).
    #[arg(long)]
    pub coredns_version: Option<String>,
    /// pause image tag instead of the catalog's.
    #[arg(long)]
    pub pause_version: Option<String>,
}

/// `airbundle build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Version and catalog overrides.
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// CPU architecture (amd64, arm64, …); repeat for several bundles.
    #[arg(long = "arch", required = true)]
    pub arches: Vec<String>,
    /// minisign secret key that signs the bundles.
    #[arg(long)]
    pub signing_key: PathBuf,
    /// File whose first line is the signing key's password.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Directory for the bundles.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
    /// Pull from HOST[:PORT][/PREFIX] instead of the image repository.
    #[arg(long)]
    pub mirror: Option<Mirror>,
    /// Speak plain HTTP to the registry or mirror (tests, labs).
    #[arg(long)]
    pub plain_http: bool,
    /// Another image to carry (a full reference); repeatable.
    #[arg(long = "extra-image")]
    pub extra_images: Vec<String>,
    /// Leave out the node binaries (kubelet, kubectl, kubeadm, crictl, CNI plugins, airadm).
    #[arg(long)]
    pub no_binaries: bool,
    /// Download the node binaries from URL instead of dl.k8s.io and github.com (same paths below it).
    #[arg(long, value_name = "URL", conflicts_with_all = ["binaries_dir", "no_binaries"])]
    pub binaries_mirror: Option<String>,
    /// Take the node binaries from a local tree of the upstream download layout.
    #[arg(long, value_name = "DIR", conflicts_with = "no_binaries")]
    pub binaries_dir: Option<PathBuf>,
    /// The airadm executable for ARCH's bundle (ARCH=PATH); repeatable.
    #[arg(long = "airadm-binary", value_name = "ARCH=PATH", value_parser = parse_arch_path, conflicts_with = "no_binaries")]
    pub airadm_binaries: Vec<(String, PathBuf)>,
    /// Blobs and binaries downloaded in parallel.
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// zstd compression level (1-19).
    #[arg(long, default_value_t = bundle::writer::DEFAULT_LEVEL, value_parser = clap::value_parser!(i32).range(-7..=19))]
    pub zstd_level: i32,
    /// zstd worker threads (default: all cores, at most 4; each adds ~3 MiB of RSS); the output does not depend on it.
    #[arg(long)]
    pub zstd_workers: Option<u32>,
    /// Blob cache directory (default: $XDG_CACHE_HOME/airbundle or ~/.cache/airbundle).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_arch_path(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((arch, path)) if !arch.is_empty() && !path.is_empty() => Ok((arch.to_owned(), PathBuf::from(path))),
        _ => Err(format!("`{text}` is not ARCH=PATH (e.g. amd64=dist/airadm-linux-amd64)")),
    }
}

/// `airbundle list-images`.
#[derive(Debug, Args)]
pub struct ListImagesArgs {
    /// Version and catalog overrides.
    #[command(flatten)]
    pub catalog: CatalogArgs,
}

/// `airbundle keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for NAME.key and NAME.pub.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Base name of the key files.
    #[arg(long, default_value = "release")]
    pub name: String,
    /// Encrypt the secret key with the password on this file's first line.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Overwrite existing key files.
    #[arg(long)]
    pub force: bool,
}

/// `airbundle inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle (.tar.zst).
    pub bundle: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `airbundle version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: short, json or yaml.
    #[arg(long, short)]
    pub output: Option<String>,
}
