//! The unpack scheduler: layers applied while the bundle streams ([`eager_unpack`]), then every
//! layer checked or applied, same-depth layers concurrently ([`unpack_all`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bundle::oci_layout::{ConfigJson, ManifestJson};
use bundle::{Digest, Image};
use containerd_client::types::Descriptor;
use futures_util::StreamExt as _;

use super::ImportError;
use crate::progress::Step;
use crate::runtime::containerd::Containerd;

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
pub(super) async fn unpack_all(
    containerd: &Containerd,
    snapshotter: &str,
    images: &[Image],
    small: &BTreeMap<Digest, Vec<u8>>,
    quiet: bool,
) -> Result<(), ImportError> {
    let chains = images.iter().map(|i| layer_jobs(i, small)).collect::<Result<Vec<_>, _>>()?;
    let depth = chains.iter().map(Vec::len).max().unwrap_or(0);
    let distinct: BTreeSet<&str> = chains.iter().flatten().map(|j| j.chain.as_str()).collect();
    let step = Step::start("unpacking", distinct.len() as u64, false, quiet);
    let step = &step;
    let parallel = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    for level in 0..depth {
        let mut seen = BTreeSet::new();
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
pub(super) async fn eager_unpack(
    containerd: Containerd,
    snapshotter: String,
    mut arrived: tokio::sync::mpsc::UnboundedReceiver<(Digest, Vec<u8>)>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let limit = 2 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut blobs: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
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
fn ready_layers(blobs: &BTreeMap<Digest, Vec<u8>>, done: &BTreeSet<String>, started: &BTreeSet<String>) -> Vec<LayerJob> {
    let mut ready = Vec::new();
    for bytes in blobs.values().filter(|b| !b.is_empty()) {
        // Configs and index wrappers do not parse as manifests.
        let Ok(manifest) = serde_json::from_slice::<ManifestJson>(bytes) else { continue };
        let Some(config_bytes) = manifest.config.digest.parse().ok().and_then(|d: Digest| blobs.get(&d)) else { continue };
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
