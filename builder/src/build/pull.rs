//! The pulling half of a build: every image resolved per architecture, the blobs not yet cached
//! listed once, then pulled `jobs` at a time, each marked ready for the packer as it lands.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bundle::Digest;
use futures_util::{StreamExt as _, TryStreamExt as _};
use oci_client::Reference;

use super::{BuildError, PlannedImage, Readiness};
use crate::cache::BlobCache;
use crate::progress::Progress;
use crate::registry::{BlobRef, Registry, ResolvedImage};

pub(super) async fn resolve_all(
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
pub(super) fn missing_blobs(
    resolved: &BTreeMap<String, Vec<ResolvedImage>>,
    cache: &BlobCache,
) -> BTreeMap<Digest, (BlobRef, Reference, String)> {
    let mut wanted = BTreeMap::new();
    for image in resolved.values().flatten() {
        for blob in std::iter::once(&image.config).chain(&image.layers).filter(|b| !cache.contains(&b.digest, b.size)) {
            wanted.entry(blob.digest).or_insert_with(|| (blob.clone(), image.source.clone(), label(&image.source, blob)));
        }
    }
    wanted
}

/// Pulls `wanted` into the cache, `jobs` at a time, marking each blob ready as it lands.
pub(super) async fn pull_missing(
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

fn label(pull: &Reference, blob: &BlobRef) -> String {
    let name = pull.repository().rsplit('/').next().unwrap_or_default();
    format!("{name} {}", &blob.digest.hex()[..12])
}
