//! Command handlers: thin adapters from parsed flags to the library.

use std::io::Write as _;

use anyhow::Context as _;
use indicatif::HumanBytes;

use crate::binaries::Sources;
use crate::build::{self, BinaryOptions, BuildOptions};
use crate::cache::BlobCache;
use crate::catalog::{Catalog, CatalogImage, KubernetesVersion, Overrides};
use crate::cli::{BuildArgs, CatalogArgs, InspectArgs, KeygenArgs, ListImagesArgs, VersionArgs};
use crate::output;
use crate::progress::{Mode, Progress};

/// Default zstd workers at most: memory grows with each (see `build_options`).
const MAX_DEFAULT_ZSTD_WORKERS: u32 = 4;

/// `airbundle build`.
pub async fn build(args: BuildArgs) -> anyhow::Result<()> {
    let options = build_options(&args)?;
    let mut progress = Progress::new(Mode::detect(args.quiet));
    for built in build::build(&options, &mut progress).await? {
        progress.line(&format!("wrote {} ({}) and {}", built.path.display(), HumanBytes(built.size), built.signature.display()));
    }
    Ok(())
}

fn build_options(args: &BuildArgs) -> anyhow::Result<BuildOptions> {
    let cache_dir = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => BlobCache::default_dir().context("no cache directory: set --cache-dir, XDG_CACHE_HOME or HOME")?,
    };
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(v.trim().parse().with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds"))?),
        _ => None,
    };
    // All cores, up to MAX_DEFAULT_ZSTD_WORKERS: each worker holds about 3 MiB of zstd's buffers,
    // and the build stays under 64 MiB of RSS with four.
    let mut airadm = std::collections::BTreeMap::new();
    for (arch, path) in &args.airadm_binaries {
        if let Some(first) = airadm.insert(arch.clone(), path.clone()) {
            anyhow::bail!(
                "--airadm-binary {arch}= is given twice ({} and {}): give one airadm per architecture",
                first.display(),
                path.display()
            );
        }
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32).min(MAX_DEFAULT_ZSTD_WORKERS);
    Ok(BuildOptions {
        kubernetes_version: args.catalog.kubernetes_version.clone(),
        arches: args.arches.clone(),
        signing_key: args.signing_key.clone(),
        password_file: args.password_file.clone(),
        output_dir: args.output_dir.clone(),
        image_repository: args.catalog.image_repository.clone(),
        mirror: args.mirror.clone(),
        plain_http: args.plain_http,
        extra_images: args.extra_images.clone(),
        jobs: args.jobs,
        zstd_level: args.zstd_level,
        zstd_workers: args.zstd_workers.unwrap_or(workers),
        cache_dir,
        overrides: overrides(&args.catalog),
        source_date_epoch,
        retry: Default::default(),
        binaries: BinaryOptions {
            enabled: !args.no_binaries,
            sources: match (&args.binaries_mirror, &args.binaries_dir) {
                (Some(url), _) => Sources::Mirror(url.clone()),
                (None, Some(dir)) => Sources::Dir(dir.clone()),
                (None, None) => Sources::Upstream,
            },
            airadm,
        },
    })
}

fn overrides(args: &CatalogArgs) -> Overrides {
    Overrides { etcd: args.etcd_version.clone(), coredns: args.coredns_version.clone(), pause: args.pause_version.clone() }
}

/// `airbundle list-images`: one reference per line, as `kubeadm config images list`.
pub fn list_images(args: ListImagesArgs) -> anyhow::Result<()> {
    let version = KubernetesVersion::parse(&args.catalog.kubernetes_version)?;
    let images = Catalog::embedded()?.images(&version, args.catalog.image_repository.as_deref(), &overrides(&args.catalog))?;
    let mut out = std::io::stdout().lock();
    for image in images.iter().map(CatalogImage::reference) {
        writeln!(out, "{image}")?;
    }
    Ok(())
}

/// `airbundle keygen`.
pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let secret = args.output_dir.join(format!("{}.key", args.name));
    let public = args.output_dir.join(format!("{}.pub", args.name));
    for path in [&secret, &public] {
        anyhow::ensure!(args.force || !path.exists(), "`{}` already exists: pass --force to overwrite it", path.display());
    }
    let password = args.password_file.as_deref().map(build::read_password).transpose()?;
    let pair = bundle::signature::generate_key_pair(password.as_deref(), &format!("airbundle secret key {}", args.name))?;
    fs_err::create_dir_all(&args.output_dir)?;
    output::write_atomic(&secret, pair.secret.as_bytes(), 0o600).with_context(|| format!("failed to write `{}`", secret.display()))?;
    output::write_atomic(&public, pair.public.as_bytes(), 0o644).with_context(|| format!("failed to write `{}`", public.display()))?;
    writeln!(std::io::stdout().lock(), "key {} written to {} and {}", pair.key_id, secret.display(), public.display())?;
    Ok(())
}

/// `airbundle version [-o short|json|yaml]`: what `airadm version` prints, for airbundle.
pub fn version(args: &VersionArgs) -> anyhow::Result<()> {
    let yaml = |value: &serde_json::Value| serde_saphyr::to_string(value).unwrap_or_default();
    let text = bundle::build_info!().render("airbundle", args.output.as_deref(), yaml).map_err(anyhow::Error::msg)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// `airbundle inspect`.
pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let file = fs_err::File::open(&args.bundle)?;
    let file_size = file.metadata()?.len();
    let manifest =
        bundle::reader::read_manifest_unverified(std::io::BufReader::new(file)).with_context(|| format!("`{}`", args.bundle.display()))?;
    let total: u64 = manifest.entries.iter().map(|e| e.size).sum();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({"manifest": manifest, "fileSize": file_size, "contentSize": total, "signatureChecked": false});
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "bundle:     {}\nkubernetes: {}\nplatform:   {}/{}\ncreated:    {}\nbuilder:    {} {}",
        args.bundle.display(),
        manifest.kubernetes_version,
        manifest.os,
        manifest.arch,
        manifest.created,
        manifest.builder.name,
        manifest.builder.version
    )?;
    writeln!(out, "images:")?;
    for image in &manifest.images {
        writeln!(out, "  {:<56} {}  {:>10}", image.name, image.digest, HumanBytes(image.size).to_string())?;
    }
    if !manifest.binaries.is_empty() {
        writeln!(out, "binaries:")?;
    }
    for binary in &manifest.binaries {
        let size = manifest.entry(&binary.path).map_or(0, |e| e.size);
        let version = binary.version.as_deref().unwrap_or("-");
        let from = binary.source.as_ref().map_or("given to the builder", |s| s.url.as_str());
        writeln!(out, "  {:<22} {:<9} {:>10}  {from}", binary.path.as_str(), version, HumanBytes(size).to_string())?;
    }
    writeln!(
        out,
        "entries:    {} ({} uncompressed, {} on disk)\nsignature:  not checked here; run `airadm verify --bundle {} --trusted-key KEY.pub`",
        manifest.entries.len() + 2,
        HumanBytes(total),
        HumanBytes(file_size),
        args.bundle.display()
    )?;
    Ok(())
}
