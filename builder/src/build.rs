//! `airbundle build`: catalog → resolve platform manifests → pull missing blobs into the cache
//! in parallel → per architecture, pack the signed bundle and its detached signature.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bundle::manifest::{BuilderInfo, SCHEMA_VERSION};
use bundle::oci_layout::{self, INDEX_PATH, OCI_LAYOUT_PATH};
use bundle::signature::KeyError;
use bundle::writer::WriteError;
use bundle::{Digest, Entry, EntryPath, EntrySource, Image, Manifest, SigningKey, WriterOptions};
use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::Reference;

use crate::cache::BlobCache;
use crate::catalog::{Catalog, CatalogError, KubernetesVersion, Overrides};
use crate::prerender::{self, ConfigInputs};
use crate::progress::{Bar, Progress};
use crate::registry::{BlobRef, Mirror, PullError, Registry, ResolvedImage, Retry, pull_reference};
use crate::{auth, output};

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
    let mut resolved = BTreeMap::new();
    for arch in &arches {
        progress.line(&format!("resolving {} images for linux/{arch}", images.len()));
        resolved.insert(arch.clone(), resolve_all(&registry, &images, arch, &cache, options.jobs).await?);
    }
    // Pack while pulling: each bundle is written in entry order, and a blob still on its way
    // is waited for; pulls start in that same order.
    let pulls = missing_blobs(&resolved, &cache);
    let ready = Arc::new(Readiness::new(pulls.keys().copied()));
    let jobs: Vec<PackJob> = resolved
        .into_iter()
        .map(|(arch, resolved)| PackJob {
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

async fn resolve_all(
    registry: &Registry,
    images: &[PlannedImage],
    arch: &str,
    cache: &BlobCache,
    jobs: usize,
) -> Result<Vec<ResolvedImage>, BuildError> {
    let resolved: Vec<ResolvedImage> = futures_util::stream::iter(images)
        .map(|image| registry.resolve(&image.pull, arch, cache))
        .buffered(jobs.max(1))
        .try_collect()
        .await?;
    for image in &resolved {
        cache.store_bytes(&image.digest, &image.manifest).map_err(|source| BuildError::Cache { dir: PathBuf::new(), source })?;
    }
    Ok(resolved)
}

/// Every config and layer not yet cached, once, in digest order (the order bundles need them).
fn missing_blobs(resolved: &BTreeMap<String, Vec<ResolvedImage>>, cache: &BlobCache) -> BTreeMap<Digest, (BlobRef, Reference, String)> {
    let mut wanted = BTreeMap::new();
    for image in resolved.values().flatten() {
        for blob in std::iter::once(&image.config).chain(&image.layers).filter(|b| !cache.contains(&b.digest, b.size)) {
            wanted.entry(blob.digest).or_insert_with(|| (blob.clone(), image.source.clone(), label(&image.source, blob)));
        }
    }
    wanted
}

/// Pulls `wanted` into the cache, `jobs` at a time, marking each blob ready as it lands.
async fn pull_missing(
    registry: &Registry,
    wanted: &BTreeMap<Digest, (BlobRef, Reference, String)>,
    cache: &BlobCache,
    jobs: usize,
    progress: &mut Progress,
    ready: &Readiness,
) -> Result<(), BuildError> {
    if wanted.is_empty() {
        progress.line("all blobs are in the cache");
        return Ok(());
    }
    progress.start_total(wanted.len(), wanted.values().map(|(b, _, _)| b.size).sum());
    let progress = &*progress;
    let result = futures_util::stream::iter(wanted.values())
        .map(|(blob, pull, label)| async move {
            let bar = progress.blob(label, blob.size);
            registry.fetch_blob(pull, blob, cache, &bar).await?;
            ready.mark_ready(&blob.digest);
            bar.finish("pulled");
            Ok::<_, BuildError>(())
        })
        .buffer_unordered(jobs.max(1))
        .try_collect::<()>()
        .await;
    progress.finish_total();
    result
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

fn label(pull: &Reference, blob: &BlobRef) -> String {
    let name = pull.repository().rsplit('/').next().unwrap_or_default();
    format!("{name} {}", &blob.digest.hex()[..12])
}

/// Packing one architecture's bundle (blocking: runs on its own thread).
struct PackJob {
    version: String,
    arch: String,
    repository: String,
    images: Vec<PlannedImage>,
    resolved: Vec<ResolvedImage>,
    options: BuildOptions,
}

impl PackJob {
    fn pack(self, key: &SigningKey, cache: &BlobCache, progress: &Progress, ready: &Readiness) -> Result<BuiltBundle, BuildError> {
        let (manifest, small) = self.manifest()?;
        let path = self.options.output_dir.join(manifest.file_name());
        let manifest_signature = key
            .sign(&manifest.to_bytes()[..], &manifest.trusted_comment())
            .map_err(|source| BuildError::Output { path: path.clone(), source })?;
        let total: u64 = manifest.entries.iter().map(|e| e.size).sum();
        let bar = progress.packing(&manifest.file_name(), total);
        let out_err = |source| BuildError::Output { path: path.clone(), source };
        let temp = output::temp_beside(&path).map_err(out_err)?;
        let file = temp.as_file().try_clone().map_err(out_err)?;
        let mut source = Source { small, cache, bar: bar.clone(), ready };
        let options = WriterOptions {
            level: self.options.zstd_level,
            workers: self.options.zstd_workers,
            mtime: self.options.source_date_epoch.unwrap_or(0),
        };
        let (writer, prehash) =
            bundle::write_bundle(BufWriter::with_capacity(256 << 10, file), options, &manifest, &manifest_signature, &mut source)
                .map_err(|e| self.write_error(e, &path, cache))?;
        drop(writer);
        output::persist(temp, &path, 0o644).map_err(out_err)?;
        let signature = path.with_extension("zst.minisig");
        output::write_atomic(&signature, key.sign_prehashed(&prehash, &manifest.file_trusted_comment()).as_bytes(), 0o644)
            .map_err(|source| BuildError::Output { path: signature.clone(), source })?;
        bar.finish("wrote");
        let size = fs_err::metadata(&path).map_err(|source| BuildError::Output { path: path.clone(), source })?.len();
        Ok(BuiltBundle { path, signature, size, manifest })
    }

    fn write_error(&self, error: WriteError, path: &Path, cache: &BlobCache) -> BuildError {
        if let WriteError::Mismatch { path: entry, expected, .. } = &error
            && entry.as_str().starts_with(oci_layout::BLOBS_DIR)
        {
            let _ = cache.evict(expected);
            return BuildError::CorruptCache { digest: *expected, path: cache.path(expected) };
        }
        BuildError::Write { path: path.to_owned(), source: Box::new(error) }
    }

    /// The manifest, and the bytes of every entry that is not a cached blob.
    fn manifest(&self) -> Result<(Manifest, BTreeMap<EntryPath, Vec<u8>>), BuildError> {
        let mut small: BTreeMap<EntryPath, Vec<u8>> = BTreeMap::new();
        let mut entries: BTreeMap<EntryPath, Entry> = BTreeMap::new();
        let mut images = Vec::new();
        let mut sizes: BTreeMap<Digest, u64> = self.resolved.iter().map(|r| (r.digest, r.manifest.len() as u64)).collect();
        for (planned, resolved) in self.images.iter().zip(&self.resolved) {
            let blobs: Vec<(Digest, u64)> = std::iter::once((resolved.digest, resolved.manifest.len() as u64))
                .chain(std::iter::once(&resolved.config).chain(&resolved.layers).map(|b| (b.digest, b.size)))
                .collect();
            for (digest, size) in &blobs {
                let path = oci_layout::blob_path(digest);
                entries.insert(path.clone(), Entry { path, size: *size, sha256: *digest });
            }
            let mut image = Image {
                name: planned.name.clone(),
                component: planned.component.clone(),
                digest: resolved.digest,
                media_type: resolved.media_type.clone(),
                platform: resolved.platform.clone(),
                index_digest: resolved.index_digest,
                oci_index: None,
                config: resolved.config.digest,
                layers: resolved.layers.iter().map(|l| l.digest).collect(),
                size: blobs.iter().map(|(_, s)| s).sum(),
            };
            if oci_layout::needs_oci_index(&image.media_type) {
                let wrapper = oci_layout::oci_index_bytes(&image, resolved.manifest.len() as u64);
                let digest = Digest::of(&wrapper);
                sizes.insert(digest, wrapper.len() as u64);
                small.insert(oci_layout::blob_path(&digest), wrapper);
                image.oci_index = Some(digest);
            }
            images.push(image);
        }
        small.insert(entry_path(INDEX_PATH), oci_layout::index_json_bytes(&images, |d| sizes.get(d).copied().unwrap_or_default()));
        small.insert(entry_path(OCI_LAYOUT_PATH), oci_layout::oci_layout_bytes());
        for config in prerender::render(&self.config_inputs()).map_err(BuildError::Render)? {
            small.insert(entry_path(config.path), config.contents);
        }
        for (path, bytes) in &small {
            entries.insert(path.clone(), Entry { path: path.clone(), size: bytes.len() as u64, sha256: Digest::of(bytes) });
        }
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            kubernetes_version: self.version.clone(),
            os: "linux".into(),
            arch: self.arch.clone(),
            image_repository: self.repository.clone(),
            builder: BuilderInfo { name: "airbundle".into(), version: env!("CARGO_PKG_VERSION").into() },
            created: bundle::manifest::rfc3339(self.options.source_date_epoch.unwrap_or(0)),
            images,
            entries: entries.into_values().collect(),
        };
        Ok((manifest, small))
    }

    fn config_inputs(&self) -> ConfigInputs<'_> {
        let tag = |component: &str| self.images.iter().find(|i| i.component == component).map(|i| i.tag.as_str()).unwrap_or_default();
        let pause = self.images.iter().find(|i| i.component == "pause").map(|i| i.name.as_str()).unwrap_or_default();
        ConfigInputs {
            kubernetes_version: &self.version,
            image_repository: &self.repository,
            etcd_tag: tag("etcd"),
            coredns_tag: tag("coredns"),
            pause_image: pause,
        }
    }
}

fn entry_path(path: &str) -> EntryPath {
    // Constant, valid paths.
    #[allow(clippy::expect_used)]
    EntryPath::new(path).expect("valid entry path")
}

/// Entry contents: small ones from memory, blobs from the cache, counted on the packing bar.
struct Source<'a> {
    small: BTreeMap<EntryPath, Vec<u8>>,
    cache: &'a BlobCache,
    bar: Bar,
    ready: &'a Readiness,
}

impl EntrySource for Source<'_> {
    fn open(&mut self, entry: &Entry) -> io::Result<Box<dyn Read + '_>> {
        let reader: Box<dyn Read> = match self.small.get(&entry.path) {
            Some(bytes) => Box::new(io::Cursor::new(bytes.clone())),
            None => {
                self.ready.wait(&entry.sha256)?;
                Box::new(fs_err::File::open(self.cache.path(&entry.sha256))?)
            }
        };
        Ok(Box::new(Counting { inner: reader, bar: &self.bar }))
    }

    fn verified(&self, entry: &Entry) -> bool {
        // Pulled in this build: oci-client hashed it on the way in. Blobs from earlier builds
        // are hashed again, which catches a corrupted cache.
        self.ready.pulled(&entry.sha256)
    }
}

struct Counting<'a, R> {
    inner: R,
    bar: &'a Bar,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
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
