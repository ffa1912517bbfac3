//! `airadm images import`: verify a bundle and import its images into containerd in one
//! streaming pass. Blobs stream straight into the content store (under a lease, with expected
//! digests); nothing is named or unpacked until the whole bundle has checked out; on failure the
//! lease is dropped and containerd is left as it was.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bundle::oci_layout::{self, OCI_INDEX_MEDIA_TYPE};
use bundle::{Digest, Entry, EntrySink, Image, Manifest, PublicKey, VerifyError};
use containerd_client::types::Descriptor;
use futures_util::StreamExt as _;
use tokio::runtime::Handle;

use crate::progress::Step;
use crate::runtime::containerd::{Applier, Containerd, ContainerdError, UnpackError};
use crate::runtime::cri::{self, Cri, CriError};

/// What to import, and how.
pub struct ImportOptions {
    /// The bundle.
    pub bundle: PathBuf,
    /// Its detached signature, if any.
    pub file_signature: Option<String>,
    /// Trusted keys.
    pub keys: Vec<PublicKey>,
    /// The CRI socket (containerd's).
    pub socket: PathBuf,
    /// Snapshotter to unpack into (default: the CRI plugin's).
    pub snapshotter: Option<String>,
    /// Architecture to accept (default: this node's).
    pub arch: String,
    /// Verify and report only.
    pub dry_run: bool,
    /// The runtime, when forced (`--runtime`); else asked over CRI.
    pub runtime: Option<String>,
    /// Where CRI-O imports stage the layout (a temp dir inside it, removed afterwards).
    pub staging_dir: PathBuf,
    /// No progress output.
    pub quiet: bool,
    /// The Docker Engine socket (cri-dockerd's images live there).
    pub docker_socket: PathBuf,
}

/// Ends the reading step: silently when verification failed (the error says why).
fn checked(result: Result<bundle::Verified, VerifyError>, reading: &Step, bundle: PathBuf) -> Result<bundle::Verified, ImportError> {
    match result {
        Ok(verified) => {
            reading.finish("bytes");
            Ok(verified)
        }
        Err(source) => {
            reading.abandon();
            Err(ImportError::Verify { bundle, source })
        }
    }
}

/// Opens the bundle (or stdin for `-`), counting what is read on a progress step.
fn open_bundle(options: &ImportOptions) -> Result<(Box<dyn Read + Send>, Step), ImportError> {
    let (file, size): (Box<dyn Read + Send>, u64) = match options.bundle.to_str() {
        Some("-") => (Box::new(io::stdin()), 0),
        _ => {
            let file = fs_err::File::open(&options.bundle)?;
            let size = file.metadata()?.len();
            (Box::new(file), size)
        }
    };
    let step = Step::start("verifying", size, true, options.quiet);
    Ok((Box::new(step.reader(file)), step))
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// Reference.
    pub name: String,
    /// Platform manifest digest.
    pub digest: Digest,
    /// Bytes.
    pub size: u64,
    /// `imported`, `present`, `would import`.
    pub status: String,
}

/// Why an import failed (nothing was named in the runtime).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The socket does not answer.
    #[error("container runtime socket `{}` does not answer: is the runtime running? (choose another with --cri-socket)", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// Not containerd.
    #[error("the runtime behind `{}` is {runtime}: airadm imports into containerd, CRI-O and cri-dockerd only", socket.display())]
    Unsupported {
        /// The socket.
        socket: PathBuf,
        /// CRI runtime name.
        runtime: String,
    },
    /// The bundle failed verification (or storing an entry failed).
    #[error("`{}`", bundle.display())]
    Verify {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        #[source]
        source: VerifyError,
    },
    /// A containerd call failed.
    #[error(transparent)]
    Containerd(#[from] ContainerdError),
    /// Unpacking a layer failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// `AIRADM_APPLIER` is neither `airadm` nor `containerd`.
    #[error("AIRADM_APPLIER=`{0}`: use `airadm` (the default) or `containerd`")]
    Applier(String),
    /// A CRI call failed.
    #[error(transparent)]
    Cri(#[from] CriError),
    /// The CRI-O path failed.
    #[error(transparent)]
    Crio(#[from] crate::runtime::crio::CrioError),
    /// The cri-dockerd path failed.
    #[error(transparent)]
    Docker(#[from] crate::runtime::docker::DockerError),
    /// An image manifest or config in the bundle could not be read.
    #[error("image `{image}`: {reason}")]
    Image {
        /// The image.
        image: String,
        /// Why.
        reason: String,
    },
    /// The kubelet would not see some images.
    #[error("the runtime does not show {0} after the import: the kubelet would try to pull them")]
    NotVisible(String),
    /// Opening the bundle failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The blocking verification thread died.
    #[error("internal error: {0}")]
    Join(String),
}

/// This node's architecture, in Go's words.
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The outcome of an import.
pub struct ImportReport {
    /// One line per image.
    pub images: Vec<ImportedImage>,
    /// Set when the runtime's sandbox image is not the bundle's (or cannot be told).
    pub sandbox: Option<SandboxAdvice>,
    /// Whether the images were checked over the CRI socket (not when no socket answers).
    pub cri_checked: bool,
}

/// The runtime would pull its own sandbox (pause) image at the first pod: what to change.
#[derive(Debug)]
pub struct SandboxAdvice {
    /// `containerd`, `CRI-O`, `cri-dockerd`.
    pub runtime: &'static str,
    /// What it is configured with, when known.
    pub configured: Option<String>,
    /// The bundle's pause image.
    pub bundle: String,
    /// What to do, possibly followed by a config drop-in.
    pub fix: String,
}

/// Advice when `configured` is not the bundle's pause image.
fn sandbox_advice(
    runtime: &'static str,
    configured: Option<String>,
    manifest: &Manifest,
    fix: impl FnOnce(&str) -> String,
) -> Option<SandboxAdvice> {
    let bundle = manifest.images.iter().find(|i| i.component == "pause")?.name.clone();
    (configured.as_deref() != Some(bundle.as_str())).then(|| SandboxAdvice { runtime, configured, fix: fix(&bundle), bundle })
}

/// The bundle's drop-in `path`, with how to install it.
fn drop_in_fix(configs: &BTreeMap<String, String>, path: &str, install: &str) -> String {
    match configs.get(path) {
        Some(text) => format!("{install} (the bundle's {path}):\n\n{text}"),
        None => format!("{install} ({path} is not in this bundle)"),
    }
}

/// Runs the import.
pub async fn import(options: ImportOptions) -> Result<ImportReport, ImportError> {
    if matches!(options.runtime.as_deref(), Some("cri-o" | "docker")) {
        return import_staged(options).await;
    }
    let channel = containerd_client::connect(&options.socket)
        .await
        .map_err(|source| ImportError::Connect { socket: options.socket.clone(), source })?;
    let mut cri = Cri::new(channel.clone());
    let (runtime, version) = cri.version().await?;
    if runtime == "cri-o" || runtime == "docker" {
        let options = ImportOptions { runtime: Some(runtime), ..options };
        return import_staged(options).await;
    }
    if runtime != "containerd" {
        return Err(ImportError::Unsupported { socket: options.socket.clone(), runtime });
    }
    let config = cri.config().await.ok().flatten();
    let snapshotter =
        options.snapshotter.clone().or_else(|| config.as_ref().and_then(cri::snapshotter)).unwrap_or_else(|| "overlayfs".to_owned());
    let mut containerd = Containerd::new(channel).with_applier(applier()?).with_local_content().await;
    if !options.dry_run {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let lease = format!("airadm-import-{}-{}", std::process::id(), now.as_nanos());
        containerd.begin_lease(&lease, &bundle::manifest::rfc3339(now.as_secs() + 3600)).await?;
    }
    let result = import_leased(&options, &snapshotter, &containerd, &mut cri).await;
    // Content now referenced by images survives the lease; everything else becomes garbage.
    let ended = containerd.end_lease().await;
    let (images, manifest, configs) = result?;
    ended?;
    // containerd 1.x reads config version 2 drop-ins, 2.x version 3.
    let drop_in = if version.trim_start_matches('v').starts_with("1.") {
        "configs/containerd/v2/airadm.toml"
    } else {
        "configs/containerd/v3/airadm.toml"
    };
    let sandbox = sandbox_advice("containerd", config.as_ref().and_then(cri::sandbox_image), &manifest, |_| {
        drop_in_fix(
            &configs,
            drop_in,
            "install this drop-in where containerd's config `imports` it (e.g. /etc/containerd/conf.d/airadm.toml) and restart containerd",
        )
    });
    Ok(ImportReport { images, sandbox, cri_checked: !options.dry_run })
}

/// Who applies layers: `AIRADM_APPLIER=containerd` keeps containerd's `Diff.Apply` for every
/// layer. (An environment variable until `airadm images import` grows `--applier`.)
fn applier() -> Result<Applier, ImportError> {
    match std::env::var("AIRADM_APPLIER").ok().as_deref() {
        None | Some("" | "airadm") => Ok(Applier::Airadm),
        Some("containerd") => Ok(Applier::Containerd),
        Some(other) => Err(ImportError::Applier(other.to_owned())),
    }
}

/// An import's images, manifest and `configs/` files.
type Imported = (Vec<ImportedImage>, Manifest, BTreeMap<String, String>);

async fn import_leased(
    options: &ImportOptions,
    snapshotter: &str,
    containerd: &Containerd,
    cri: &mut Cri,
) -> Result<Imported, ImportError> {
    let (file, reading) = open_bundle(options)?;
    let (events, arrived) = tokio::sync::mpsc::unbounded_channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let eager = (!options.dry_run).then(|| tokio::spawn(eager_unpack(containerd.clone(), snapshotter.to_owned(), arrived, stop.clone())));
    let mut sink = Sink {
        handle: Handle::current(),
        containerd: containerd.clone(),
        arch: options.arch.clone(),
        dry_run: options.dry_run,
        small: BTreeMap::new(),
        wanted: HashMap::new(),
        configs: BTreeMap::new(),
        written: 0,
        events: Some(events),
    };
    let (keys, signature, bundle_path) = (options.keys.clone(), options.file_signature.clone(), options.bundle.clone());
    let (verified, mut sink) = tokio::task::spawn_blocking(move || {
        let verified = bundle::verify_stream(io::BufReader::with_capacity(1 << 20, file), &keys, signature.as_deref(), &mut sink);
        (verified, sink)
    })
    .await
    .map_err(|e| ImportError::Join(e.to_string()))?;
    // Close the event channel and let eager unpacking finish before anything else touches the
    // snapshots. On failure it starts nothing more, but the layers being applied are let finish:
    // the lease can only be ended once nothing writes into its snapshots.
    stop.store(verified.is_err(), std::sync::atomic::Ordering::Relaxed);
    drop(sink.events.take());
    if let Some(eager) = eager {
        eager.await.map_err(|e| ImportError::Join(e.to_string()))?;
    }
    let manifest = checked(verified, &reading, bundle_path)?.manifest;
    if !options.dry_run {
        unpack_all(containerd, snapshotter, &manifest.images, &sink.small, options.quiet).await?;
        // Image records last: an interrupted import never names missing content.
        for image in &manifest.images {
            for name in names(image) {
                containerd.put_image(&name, target(&manifest, image)).await?;
            }
        }
    }
    let status = match (options.dry_run, sink.written) {
        (true, _) => "would import",
        (false, 0) => "present",
        (false, _) => "imported",
    };
    let report: Vec<ImportedImage> = manifest
        .images
        .iter()
        .map(|i| ImportedImage { name: i.name.clone(), digest: i.digest, size: i.size, status: status.into() })
        .collect();
    if !options.dry_run {
        check_visible(cri, &manifest).await?;
    }
    Ok((report, manifest, sink.configs))
}

/// Asks the runtime over CRI for every bundle image; fails naming those the kubelet would not see.
async fn check_visible(cri: &mut Cri, manifest: &Manifest) -> Result<(), ImportError> {
    let mut missing = Vec::new();
    for image in &manifest.images {
        if cri.image_id(&image.name).await?.is_none() {
            missing.push(image.name.clone());
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(ImportError::NotVisible(missing.join(", "))) }
}

/// The tag reference and the `repo@sha256:` form, as the CRI plugin records pulled images.
fn names(image: &Image) -> Vec<String> {
    let mut names = vec![image.name.clone()];
    if !image.name.contains('@') {
        let slash = image.name.rfind('/').map_or(0, |i| i + 1);
        let repo = match image.name[slash..].rfind(':') {
            Some(colon) => &image.name[..slash + colon],
            None => image.name.as_str(),
        };
        let target = image.oci_index.unwrap_or(image.digest);
        names.push(format!("{repo}@{target}"));
    }
    names
}

/// What `oci/index.json` points at for `image`: the platform manifest or its OCI index wrapper.
fn target(manifest: &Manifest, image: &Image) -> Descriptor {
    let (media_type, digest) = match image.oci_index {
        Some(index) => (OCI_INDEX_MEDIA_TYPE.to_owned(), index),
        None => (image.media_type.clone(), image.digest),
    };
    let size = manifest.entry(&oci_layout::blob_path(&digest)).map_or(0, |e| e.size) as i64;
    Descriptor { media_type, digest: digest.to_string(), size, annotations: HashMap::new() }
}

#[derive(serde::Deserialize)]
struct ManifestJson {
    layers: Vec<LayerJson>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerJson {
    media_type: String,
    digest: String,
    size: i64,
}

#[derive(serde::Deserialize)]
struct ConfigJson {
    rootfs: RootFs,
}

#[derive(serde::Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// CRI-O and cri-dockerd: verify while staging the OCI layout, then copy each image into
/// containers-storage (CRI-O) or load them all into the Docker Engine (cri-dockerd). The staging
/// directory is removed whatever happens; nothing reaches the runtime before the whole bundle
/// checked out.
async fn import_staged(options: ImportOptions) -> Result<ImportReport, ImportError> {
    let docker = options.runtime.as_deref() == Some("docker");
    if !docker {
        crate::runtime::crio::preflight()?;
    }
    fs_err::create_dir_all(&options.staging_dir)?;
    let staging = tempfile::Builder::new().prefix("airadm-staging-").tempdir_in(&options.staging_dir)?;
    let (file, reading) = open_bundle(&options)?;
    let mut sink = StagingSink { dir: staging.path().to_owned(), arch: options.arch.clone(), configs: BTreeMap::new() };
    let (keys, signature, bundle_path, dry_run) =
        (options.keys.clone(), options.file_signature.clone(), options.bundle.clone(), options.dry_run);
    let (manifest, sink) = tokio::task::spawn_blocking(move || {
        let mut discard = ArchOnly(sink.arch.clone());
        let target: &mut dyn EntrySink = if dry_run { &mut discard } else { &mut sink };
        (bundle::verify_stream(io::BufReader::with_capacity(1 << 20, file), &keys, signature.as_deref(), target), sink)
    })
    .await
    .map_err(|e| ImportError::Join(e.to_string()))?;
    let manifest = checked(manifest, &reading, bundle_path)?.manifest;
    if docker && !dry_run {
        let (socket, layout, images) = (options.docker_socket.clone(), staging.path().join("oci"), manifest.images.clone());
        tokio::task::spawn_blocking(move || -> Result<(), crate::runtime::docker::DockerError> {
            crate::runtime::docker::load(&socket, &layout, &images)?;
            let missing: Vec<&str> = images
                .iter()
                .filter(|i| !i.name.contains('@'))
                .filter(|i| !crate::runtime::docker::has_image(&socket, &i.name).unwrap_or(false))
                .map(|i| i.name.as_str())
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(crate::runtime::docker::DockerError::Load(format!("not present after loading: {}", missing.join(", "))))
            }
        })
        .await
        .map_err(|e| ImportError::Join(e.to_string()))??;
    }
    let mut images = Vec::new();
    for image in &manifest.images {
        if !dry_run && !docker {
            let (layout, name, arch) = (staging.path().join("oci"), image.name.clone(), manifest.arch.clone());
            tokio::task::spawn_blocking(move || crate::runtime::crio::copy_image(&layout, &name, &arch))
                .await
                .map_err(|e| ImportError::Join(e.to_string()))??;
        }
        let status = if dry_run { "would import" } else { "imported" };
        images.push(ImportedImage { name: image.name.clone(), digest: image.digest, size: image.size, status: status.into() });
    }
    // What the kubelet sees, when the CRI socket answers (not when the runtime was named with
    // --runtime and is not running).
    let mut cri_checked = false;
    if !dry_run
        && !options.socket.as_os_str().is_empty()
        && let Ok(channel) = containerd_client::connect(&options.socket).await
    {
        check_visible(&mut Cri::new(channel), &manifest).await?;
        cri_checked = true;
    }
    let sandbox = if docker {
        // Only a running cri-dockerd tells (by its command line).
        crate::runtime::docker::cri_dockerd_pause_image(Path::new("/proc")).and_then(|configured| {
            sandbox_advice("cri-dockerd", configured, &manifest, |bundle| {
                format!("start cri-dockerd with --pod-infra-container-image={bundle} (its systemd unit's ExecStart) and restart it")
            })
        })
    } else {
        let configured = crate::runtime::crio::pause_image(Path::new("/"));
        sandbox_advice("CRI-O", configured, &manifest, |_| {
            drop_in_fix(&sink.configs, "configs/crio/10-airadm.conf", "save this as /etc/crio/crio.conf.d/10-airadm.conf and restart CRI-O")
        })
    };
    Ok(ImportReport { images, sandbox, cri_checked })
}

/// Writes the layout entries (`oci/…`) into a staging directory as they stream. Entry paths are
/// already proven relative and `..`-free by the reader.
struct StagingSink {
    dir: PathBuf,
    arch: String,
    /// The bundle's `configs/` files.
    configs: BTreeMap<String, String>,
}

impl EntrySink for StagingSink {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        ArchOnly(self.arch.clone()).begin(manifest)
    }

    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        if let Some(text) = config_text(entry, data)? {
            self.configs.insert(entry.path.to_string(), text);
            return Ok(());
        }
        if !entry.path.as_str().starts_with(oci_layout::LAYOUT_DIR) {
            return Ok(());
        }
        let path = self.dir.join(entry.path.as_str());
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let mut file = io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&path)?);
        io::copy(data, &mut file)?;
        io::Write::flush(&mut file)
    }
}

/// Refuses a bundle for another architecture, and nothing else.
struct ArchOnly(String);

impl EntrySink for ArchOnly {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        if manifest.arch != self.0 {
            return Err(io::Error::other(format!(
                "the bundle is for linux/{}, this node wants linux/{}: use the {} bundle, or pass --arch {} to import it anyway",
                manifest.arch, self.0, self.0, manifest.arch
            )));
        }
        Ok(())
    }

    fn entry(&mut self, _entry: &Entry, _data: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// One layer to unpack: snapshot `chain` = `parent` + `layer`.
struct LayerJob {
    parent: String,
    chain: String,
    diff_id: String,
    layer: Descriptor,
}

/// The layer chain of `image`, as containerd computes chain ids.
fn layer_jobs(image: &Image, small: &BTreeMap<Digest, Vec<u8>>) -> Result<Vec<LayerJob>, ImportError> {
    let bad = |reason: String| ImportError::Image { image: image.name.clone(), reason };
    let manifest: ManifestJson =
        serde_json::from_slice(small.get(&image.digest).map_or(&[][..], Vec::as_slice)).map_err(|e| bad(format!("manifest: {e}")))?;
    let config: ConfigJson =
        serde_json::from_slice(small.get(&image.config).map_or(&[][..], Vec::as_slice)).map_err(|e| bad(format!("config: {e}")))?;
    if manifest.layers.len() != config.rootfs.diff_ids.len() {
        return Err(bad("manifest and config disagree on the number of layers".into()));
    }
    Ok(chain_jobs(&manifest, &config))
}

/// The unpack jobs of one image, bottom layer first; chain ids as containerd computes them.
fn chain_jobs(manifest: &ManifestJson, config: &ConfigJson) -> Vec<LayerJob> {
    let mut parent = String::new();
    let mut jobs = Vec::new();
    for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let chain = if parent.is_empty() { diff_id.clone() } else { Digest::of(format!("{parent} {diff_id}").as_bytes()).to_string() };
        let descriptor = Descriptor {
            media_type: layer.media_type.clone(),
            digest: layer.digest.clone(),
            size: layer.size,
            annotations: HashMap::new(),
        };
        jobs.push(LayerJob { parent: std::mem::replace(&mut parent, chain.clone()), chain, diff_id: diff_id.clone(), layer: descriptor });
    }
    jobs
}

/// Unpacks every image's layers into `snapshotter`. Layers at the same depth are independent
/// (their parents exist), so they are applied concurrently: containerd decompresses and writes
/// each on its own, and that is where an import spends its time.
async fn unpack_all(
    containerd: &Containerd,
    snapshotter: &str,
    images: &[Image],
    small: &BTreeMap<Digest, Vec<u8>>,
    quiet: bool,
) -> Result<(), ImportError> {
    let chains = images.iter().map(|i| layer_jobs(i, small)).collect::<Result<Vec<_>, _>>()?;
    let depth = chains.iter().map(Vec::len).max().unwrap_or(0);
    let distinct: std::collections::BTreeSet<&str> = chains.iter().flatten().map(|j| j.chain.as_str()).collect();
    let step = Step::start("unpacking", distinct.len() as u64, false, quiet);
    let step = &step;
    let parallel = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    for level in 0..depth {
        let mut seen = std::collections::BTreeSet::new();
        let jobs: Vec<&LayerJob> = chains.iter().filter_map(|c| c.get(level)).filter(|j| seen.insert(j.chain.clone())).collect();
        futures_util::stream::iter(jobs)
            .map(|job| async move {
                containerd.unpack_layer(snapshotter, &job.parent, &job.chain, &job.layer, &job.diff_id).await?;
                let digest: Digest =
                    job.layer.digest.parse().map_err(|e| ImportError::Image { image: job.layer.digest.clone(), reason: format!("{e}") })?;
                containerd.label_blob(&digest, HashMap::from([("containerd.io/uncompressed".to_owned(), job.diff_id.clone())])).await?;
                step.inc(1);
                Ok::<_, ImportError>(())
            })
            .buffer_unordered(parallel)
            // Every started layer is let finish, failed or not: nothing may still write into a
            // snapshot when the lease ends.
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<(), _>>()?;
    }
    step.finish("layers");
    let key = format!("containerd.io/gc.ref.snapshot.{snapshotter}");
    for (image, chain) in images.iter().zip(&chains) {
        let top = chain.last().map(|j| j.chain.clone()).unwrap_or_default();
        containerd.label_blob(&image.config, HashMap::from([(key.clone(), top)])).await?;
    }
    Ok(())
}

/// Applies layers while the bundle still streams: a layer starts as soon as its blob, its
/// image's manifest and config, and its parent snapshot are in. Everything here is under the
/// import's lease and inert (no image names it); the final pass in [`unpack_all`] skips what is
/// done and redoes anything that failed, so errors are ignored here.
async fn eager_unpack(
    containerd: Containerd,
    snapshotter: String,
    mut arrived: tokio::sync::mpsc::UnboundedReceiver<(Digest, Vec<u8>)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let limit = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut blobs: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    let mut done: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut started: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut running = tokio::task::JoinSet::new();
    let mut open = true;
    while open || !running.is_empty() {
        tokio::select! {
            event = arrived.recv(), if open => match event {
                Some((digest, bytes)) => { blobs.insert(digest, bytes); }
                None => open = false,
            },
            Some(finished) = running.join_next(), if !running.is_empty() => {
                if let Ok(Some(chain)) = finished {
                    done.insert(chain);
                }
            }
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            continue; // the bundle was refused: only let running layers finish
        }
        for job in ready_layers(&blobs, &done, &started) {
            if running.len() >= limit {
                break;
            }
            if started.contains(&job.chain) {
                continue; // shared by several images
            }
            started.insert(job.chain.clone());
            let (containerd, snapshotter) = (containerd.clone(), snapshotter.clone());
            running.spawn(async move {
                containerd.unpack_layer(&snapshotter, &job.parent, &job.chain, &job.layer, &job.diff_id).await.ok().map(|_| job.chain)
            });
        }
    }
}

/// Layers whose blob and parent are in and that nobody started yet. Manifests are recognised by
/// their shape among the kept blobs; their configs must have arrived too.
fn ready_layers(
    blobs: &BTreeMap<Digest, Vec<u8>>,
    done: &std::collections::BTreeSet<String>,
    started: &std::collections::BTreeSet<String>,
) -> Vec<LayerJob> {
    #[derive(serde::Deserialize)]
    struct WithConfig {
        config: Option<LayerJson>,
    }
    let mut ready = Vec::new();
    for bytes in blobs.values().filter(|b| !b.is_empty()) {
        let Ok(WithConfig { config: Some(config) }) = serde_json::from_slice::<WithConfig>(bytes) else { continue };
        let (Ok(manifest), Some(config_bytes)) =
            (serde_json::from_slice::<ManifestJson>(bytes), config.digest.parse().ok().and_then(|d: Digest| blobs.get(&d)))
        else {
            continue;
        };
        let Ok(config) = serde_json::from_slice::<ConfigJson>(config_bytes) else { continue };
        // The lowest layer not done yet is the only candidate of this image.
        if let Some(job) = chain_jobs(&manifest, &config).into_iter().find(|j| !done.contains(&j.chain)) {
            let blob_in = job.layer.digest.parse().is_ok_and(|d: Digest| blobs.contains_key(&d));
            if blob_in && !started.contains(&job.chain) && (job.parent.is_empty() || done.contains(&job.parent)) {
                ready.push(job);
            }
        }
    }
    ready
}

/// Receives the verified stream: writes blobs containerd lacks, keeps manifests and configs.
struct Sink {
    handle: Handle,
    containerd: Containerd,
    arch: String,
    dry_run: bool,
    /// Manifests and configs (small), kept for unpacking.
    small: BTreeMap<Digest, Vec<u8>>,
    /// GC labels per blob that references others (manifests, index wrappers).
    wanted: HashMap<Digest, HashMap<String, String>>,
    /// The bundle's `configs/` files.
    configs: BTreeMap<String, String>,
    written: u64,
    /// Blobs now in the content store (with their bytes when kept), for eager unpacking.
    events: Option<tokio::sync::mpsc::UnboundedSender<(Digest, Vec<u8>)>>,
}

impl Sink {
    /// Tells the eager unpacker a blob is in the content store (it may have stopped listening).
    fn announce(&self, digest: Digest, kept: Vec<u8>) {
        if let Some(events) = &self.events {
            let _ = events.send((digest, kept));
        }
    }
}

/// The text of a (small) `configs/` entry; `None` for other entries.
fn config_text(entry: &Entry, data: &mut dyn Read) -> io::Result<Option<String>> {
    if !entry.path.as_str().starts_with("configs/") || entry.size > MAX_SMALL {
        return Ok(None);
    }
    let mut text = Vec::new();
    data.read_to_end(&mut text)?;
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

/// Largest manifest or config kept in memory.
const MAX_SMALL: u64 = 4 << 20;

impl EntrySink for Sink {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        ArchOnly(self.arch.clone()).begin(manifest)?;
        for image in &manifest.images {
            let mut labels = HashMap::from([("containerd.io/gc.ref.content.config".to_owned(), image.config.to_string())]);
            for (i, layer) in image.layers.iter().enumerate() {
                labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), layer.to_string());
            }
            self.wanted.insert(image.digest, labels);
            self.small.insert(image.config, Vec::new());
            if let Some(index) = image.oci_index {
                self.wanted.insert(index, HashMap::from([("containerd.io/gc.ref.content.m.0".to_owned(), image.digest.to_string())]));
            }
        }
        Ok(())
    }

    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        if let Some(text) = config_text(entry, data)? {
            self.configs.insert(entry.path.to_string(), text);
            return Ok(());
        }
        if !entry.path.as_str().starts_with(oci_layout::BLOBS_DIR) {
            return Ok(());
        }
        let digest = entry.sha256;
        let labels = self.wanted.get(&digest).cloned();
        let keep = (labels.is_some() || self.small.contains_key(&digest)) && entry.size <= MAX_SMALL;
        let mut kept = Vec::new();
        let present = self.dry_run || self.handle.block_on(self.containerd.hold_blob(&digest)).map_err(io::Error::other)?;
        if present {
            if let Some(labels) = labels.filter(|_| !self.dry_run) {
                // What it references must survive the lease, however it got here.
                self.handle.block_on(self.containerd.label_blob(&digest, labels)).map_err(io::Error::other)?;
            }
            if keep {
                data.read_to_end(&mut kept)?;
                self.small.insert(digest, kept.clone());
            }
            self.announce(digest, kept);
            return Ok(());
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let containerd = self.containerd.clone();
        let size = entry.size;
        let task = self.handle.spawn(async move { containerd.write_blob(&digest, size, labels.unwrap_or_default(), rx).await });
        let mut buffer = vec![0u8; 1 << 20];
        let pumped = loop {
            let n = match data.read(&mut buffer) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            if keep {
                kept.extend_from_slice(&buffer[..n]);
            }
            if tx.blocking_send(buffer[..n].to_vec()).is_err() {
                break Ok(());
            }
        };
        drop(tx);
        // Waited for even when reading failed: the write aborts its ingest before we go on.
        let written = self.handle.block_on(task).map_err(io::Error::other)?;
        pumped?;
        match written {
            // containerd refused bytes that do not match the digest: the verifier, which hashed
            // the same bytes, reports the entry in its own words when this returns.
            Err(e) if e.source.code() == tonic::Code::FailedPrecondition => return Ok(()),
            result => result.map_err(io::Error::other)?,
        }
        self.written += entry.size;
        if keep {
            self.small.insert(digest, kept.clone());
        }
        self.announce(digest, kept);
        Ok(())
    }
}
