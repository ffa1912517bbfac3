//! `airbundle build`: catalog → resolve platform manifests → pull missing blobs into the cache
//! in parallel → per architecture, pack the signed bundle and its detached signature.

mod pack;
mod pull;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bundle::signature::KeyError;
use bundle::writer::WriteError;
use bundle::{Digest, Manifest, SigningKey};
use oci_client::Reference;

use self::pack::PackJob;
use self::pull::{missing_blobs, pull_missing, resolve_all};
use crate::auth;
use crate::binaries::{self, FetchError, Sources};
use crate::cache::BlobCache;
use crate::catalog::{Catalog, CatalogError, KubernetesVersion, Overrides};
use crate::progress::Progress;
use crate::registry::{Mirror, PullError, Registry, Retry, pull_reference};

/// Everything `airbundle build` needs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `v1.31.2`.
    pub kubernetes_version: String,
    /// Go architecture names.
    pub arches: Vec<String>,
    /// minisign secret key.
    pub signing_key: PathBuf,
    /// File holding its password, if encrypted.
    pub password_file: Option<PathBuf>,
    /// Where bundles go.
    pub output_dir: PathBuf,
    /// kubeadm `imageRepository` the cluster names images under.
    pub image_repository: Option<String>,
    /// Pull from here instead.
    pub mirror: Option<Mirror>,
    /// Speak HTTP to the mirror (or registry).
    pub plain_http: bool,
    /// More images to carry.
    pub extra_images: Vec<String>,
    /// Parallel pulls.
    pub jobs: usize,
    /// zstd level.
    pub zstd_level: i32,
    /// zstd worker threads.
    pub zstd_workers: u32,
    /// Blob cache.
    pub cache_dir: PathBuf,
    /// Catalog overrides.
    pub overrides: Overrides,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<u64>,
    /// Retry policy.
    pub retry: Retry,
    /// The node binaries to carry.
    pub binaries: BinaryOptions,
}

/// Which node binaries a build carries, and where they come from.
#[derive(Debug, Clone, Default)]
pub struct BinaryOptions {
    /// False for `--no-binaries`.
    pub enabled: bool,
    /// Upstream, `--binaries-mirror` or `--binaries-dir`.
    pub sources: Sources,
    /// `--airadm-binary ARCH=PATH`.
    pub airadm: BTreeMap<String, PathBuf>,
}

/// A bundle written to disk.
#[derive(Debug, Clone)]
pub struct BuiltBundle {
    /// The `.tar.zst`.
    pub path: PathBuf,
    /// Its detached `.minisig`.
    pub signature: PathBuf,
    /// Its size.
    pub size: u64,
    /// The signed manifest.
    pub manifest: Manifest,
}

/// Why a build failed; nothing is left under a final file name.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Version not in the catalog, or malformed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Signing key unusable.
    #[error("--signing-key {0}")]
    Key(KeyError),
    /// Password file unreadable.
    #[error("failed to read --password-file `{}`", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Bad `--arch`.
    #[error("--arch `{0}` is not a Kubernetes architecture (amd64, arm64, arm, ppc64le, s390x, riscv64)")]
    Arch(String),
    /// Bad `--extra-image`.
    #[error("--extra-image {0}")]
    ExtraImage(String),
    /// Docker config unusable.
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// A pull failed.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// A node binary could not be added.
    #[error(transparent)]
    Binaries(#[from] FetchError),
    /// Cache directory unusable.
    #[error("failed to use the blob cache `{}`", dir.display())]
    Cache {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A cached blob did not match its digest.
    #[error("cached blob {digest} was corrupt (`{}`); it has been removed: run the build again", path.display())]
    CorruptCache {
        /// The blob.
        digest: Digest,
        /// Its file.
        path: PathBuf,
    },
    /// Writing the bundle failed.
    #[error("failed to write `{}`", path.display())]
    Write {
        /// The bundle.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<WriteError>,
    },
    /// Output file handling failed.
    #[error("failed to write `{}`", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Config rendering failed.
    #[error("failed to render the bundle's configs")]
    Render(#[source] serde_saphyr::ser::Error),
    /// A worker thread panicked or was cancelled.
    #[error("internal error: {0}")]
    Join(String),
}

/// An image of the build: how the cluster names it and where it is pulled from.
#[derive(Debug, Clone)]
pub struct PlannedImage {
    /// `kube-apiserver`, …, `extra`.
    pub component: String,
    /// Reference as the cluster names it.
    pub name: String,
    /// Reference it is pulled from.
    pub pull: Reference,
    /// Tag, for the configs.
    pub tag: String,
}

/// Runs a whole build.
pub async fn build(options: &BuildOptions, progress: &mut Progress) -> Result<Vec<BuiltBundle>, BuildError> {
    let key = Arc::new(load_signing_key(options)?);
    let arches = options.arches.iter().map(|a| normalise_arch(a)).collect::<Result<Vec<_>, _>>()?;
    let version = KubernetesVersion::parse(&options.kubernetes_version)?;
    let (repository, images) = plan_images(options, &version)?;
    let cache = BlobCache::open(&options.cache_dir).map_err(|source| BuildError::Cache { dir: options.cache_dir.clone(), source })?;
    fs_err::create_dir_all(&options.output_dir).map_err(|source| BuildError::Output { path: options.output_dir.clone(), source })?;
    let plain_http: Vec<String> = if options.plain_http {
        images.iter().map(|i| i.pull.registry().to_owned()).collect::<BTreeSet<_>>().into_iter().collect()
    } else {
        vec![]
    };
    let registry = Registry::new(plain_http, auth::DockerConfig::load_default()?, options.retry)?;
    // The binaries download while the images resolve: the manifest, written first, needs both.
    let shared: &Progress = progress;
    let resolving = async {
        let mut resolved = BTreeMap::new();
        for arch in &arches {
            shared.line(&format!("resolving {} images for linux/{arch}", images.len()));
            resolved.insert(arch.clone(), resolve_all(&registry, &images, arch, &cache, options.jobs).await?);
        }
        Ok::<_, BuildError>(resolved)
    };
    let (resolved, mut node_binaries) = tokio::try_join!(resolving, fetch_binaries(options, &version, &arches, &cache, shared))?;
    // Pack while pulling: each bundle is written in entry order, and a blob still on its way
    // is waited for; pulls start in that same order.
    let pulls = missing_blobs(&resolved, &cache);
    let ready = Arc::new(Readiness::new(pulls.keys().copied()));
    let jobs: Vec<PackJob> = resolved
        .into_iter()
        .map(|(arch, resolved)| PackJob {
            binaries: node_binaries.remove(&arch).unwrap_or_default(),
            version: version.to_string(),
            arch,
            repository: repository.clone(),
            images: images.clone(),
            resolved,
            options: options.clone(),
        })
        .collect();
    let (pack_ready, pack_cache, pack_progress) = (ready.clone(), cache.clone(), progress.clone());
    let mut pack = tokio::task::spawn_blocking(move || {
        jobs.into_iter().map(|job| job.pack(&key, &pack_cache, &pack_progress, &pack_ready)).collect::<Result<Vec<_>, _>>()
    });
    let pulled = tokio::select! {
        pulled = pull_missing(&registry, &pulls, &cache, options.jobs, progress, &ready) => pulled,
        packed = &mut pack => return packed.map_err(|e| BuildError::Join(e.to_string()))?,
    };
    if let Err(error) = pulled {
        ready.fail();
        let _ = pack.await;
        return Err(error);
    }
    pack.await.map_err(|e| BuildError::Join(e.to_string()))?
}

/// Every architecture's node binaries in the cache (none with `--no-binaries`).
async fn fetch_binaries(
    options: &BuildOptions,
    version: &KubernetesVersion,
    arches: &[String],
    cache: &BlobCache,
    progress: &Progress,
) -> Result<BTreeMap<String, Vec<bundle::manifest::Binary>>, BuildError> {
    if !options.binaries.enabled {
        return Ok(BTreeMap::new());
    }
    let versions = Catalog::embedded()?.binary_versions(version)?;
    let plans = arches.iter().map(|arch| (arch.clone(), binaries::plan(&version.to_string(), &versions, arch))).collect();
    let airadm = options
        .binaries
        .airadm
        .iter()
        .map(|(arch, path)| Ok((normalise_arch(arch)?, path.clone())))
        .collect::<Result<BTreeMap<_, _>, BuildError>>()?;
    progress.line(&format!("checking the node binaries (kubernetes {version}, crictl {}, cni {})", versions.crictl, versions.cni));
    Ok(binaries::fetch_all(&options.binaries.sources, &plans, &airadm, cache, options.retry, options.jobs, progress).await?)
}

fn load_signing_key(options: &BuildOptions) -> Result<SigningKey, BuildError> {
    let password = match &options.password_file {
        Some(path) => Some(read_password(path)?),
        None => None,
    };
    SigningKey::from_file(&options.signing_key, password.as_deref()).map_err(BuildError::Key)
}

/// Reads a password file's first line.
pub fn read_password(path: &Path) -> Result<String, BuildError> {
    let text = fs_err::read_to_string(path).map_err(|source| BuildError::PasswordFile { path: path.to_owned(), source })?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// Go architecture names Kubernetes publishes images for; `x86_64`/`aarch64` are accepted too.
pub fn normalise_arch(arch: &str) -> Result<String, BuildError> {
    match arch {
        "amd64" | "x86_64" => Ok("amd64".into()),
        "arm64" | "aarch64" => Ok("arm64".into()),
        "arm" | "ppc64le" | "s390x" | "riscv64" => Ok(arch.into()),
        other => Err(BuildError::Arch(other.into())),
    }
}

/// The catalog's images for `version` plus the extra images, each with its pull location.
pub fn plan_images(options: &BuildOptions, version: &KubernetesVersion) -> Result<(String, Vec<PlannedImage>), BuildError> {
    let catalog = Catalog::embedded()?;
    let images = catalog.images(version, options.image_repository.as_deref(), &options.overrides)?;
    let repository = images.first().map(|i| i.repository.clone()).unwrap_or_default();
    let mut planned = Vec::new();
    let mut names = BTreeSet::new();
    let catalog_names = images.iter().map(|i| (i.component.to_owned(), i.reference(), i.tag.clone()));
    let extra_names = options.extra_images.iter().map(|r| {
        let parsed: Reference = r.parse().map_err(|e| BuildError::ExtraImage(format!("`{r}` is not an image reference: {e}")))?;
        Ok::<_, BuildError>(("extra".to_owned(), parsed.whole(), parsed.tag().unwrap_or_default().to_owned()))
    });
    for item in catalog_names.map(Ok).chain(extra_names) {
        let (component, name, tag) = item?;
        if !names.insert(name.clone()) {
            continue;
        }
        let pull = pull_reference(&name, &repository, options.mirror.as_ref()).map_err(BuildError::ExtraImage)?;
        planned.push(PlannedImage { component, name, pull, tag });
    }
    Ok((repository, planned))
}

/// Which blobs the packer may read: those cached before the build, and those pulled so far.
struct Readiness {
    state: Mutex<ReadyState>,
    changed: Condvar,
}

struct ReadyState {
    pending: BTreeSet<Digest>,
    pulled: BTreeSet<Digest>,
    failed: bool,
}

impl Readiness {
    fn new(pending: impl IntoIterator<Item = Digest>) -> Self {
        let state = ReadyState { pending: pending.into_iter().collect(), pulled: BTreeSet::new(), failed: false };
        Self { state: Mutex::new(state), changed: Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mark_ready(&self, digest: &Digest) {
        let mut state = self.lock();
        state.pending.remove(digest);
        state.pulled.insert(*digest);
        self.changed.notify_all();
    }

    fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
    }

    /// Blocks until `digest` is in the cache; an error once a pull failed.
    fn wait(&self, digest: &Digest) -> io::Result<()> {
        let mut state = self.lock();
        while state.pending.contains(digest) {
            if state.failed {
                return Err(io::Error::other("a pull failed"));
            }
            state = self.changed.wait(state).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Ok(())
    }

    /// True for blobs this build pulled and verified itself (no need to hash them again).
    fn pulled(&self, digest: &Digest) -> bool {
        self.lock().pulled.contains(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_arch_aliases() {
        assert_eq!(normalise_arch("x86_64").unwrap(), "amd64");
        assert_eq!(normalise_arch("aarch64").unwrap(), "arm64");
        assert!(normalise_arch("mips").unwrap_err().to_string().contains("--arch `mips`"));
    }
}
