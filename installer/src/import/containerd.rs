//! The containerd path: a lease, blobs streamed into the content store as the bundle is
//! verified ([`Sink`]), layers unpacked as they arrive and after ([`super::unpack`]), image
//! records last, the lease ended (synchronously) whatever happened.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use bundle::oci_layout::{self, OCI_INDEX_MEDIA_TYPE};
use bundle::{Image, Manifest};
use containerd_client::types::Descriptor;
use tokio::runtime::Handle;
use tonic::transport::Channel;

use super::sink::{Sink, WithBinaries, settle};
use super::unpack::{eager_unpack, unpack_all};
use super::{ImportError, ImportOptions, ImportReport, ImportedImage, check_visible, checked, drop_in_fix, open_bundle, sandbox_advice};
use crate::binaries::Staging;
use crate::runtime::containerd::{Applier, Containerd};
use crate::runtime::cri::{self, Cri};

/// Imports into containerd (`channel`), whose CRI plugin answered as `version`.
pub(super) async fn import(mut options: ImportOptions, channel: Channel, mut cri: Cri, version: &str) -> Result<ImportReport, ImportError> {
    let config = cri.config().await?;
    let (snapshotter, guessed) = choose_snapshotter(options.snapshotter.as_deref(), config.as_ref());
    if let Some(why) = guessed {
        tracing::warn!("{why}");
    }
    let mut containerd = Containerd::new(channel).with_applier(applier()?).with_local_content().await;
    if !options.dry_run {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let lease = format!("airadm-import-{}-{}", std::process::id(), now.as_nanos());
        containerd.begin_lease(&lease, &bundle::manifest::rfc3339(now.as_secs() + 3600)).await?;
    }
    let binaries = options.binaries.take();
    let result = import_leased(&options, binaries, &snapshotter, &containerd, &mut cri).await;
    // Content now referenced by images survives the lease; everything else becomes garbage.
    let ended = containerd.end_lease().await;
    let (images, manifest, configs, binaries) = result?;
    ended?;
    // containerd 1.x reads config version 2 drop-ins, 2.x version 3.
    let drop_in = if version.trim_start_matches('v').starts_with("1.") {
        "configs/containerd/v2/airadm.toml"
    } else {
        "configs/containerd/v3/airadm.toml"
    };
    let reported = config.as_ref().is_some_and(cri::reports_sandbox_image);
    let sandbox = sandbox_advice("containerd", config.as_ref().and_then(cri::sandbox_image), reported, &manifest, |_| {
        drop_in_fix(
            &configs,
            drop_in,
            "install this drop-in where containerd's config `imports` it (e.g. /etc/containerd/conf.d/airadm.toml) and restart containerd",
        )
    });
    Ok(ImportReport { images, sandbox, cri_checked: !options.dry_run, binaries })
}

/// `--snapshotter`, else the one containerd's CRI plugin reports, else overlayfs, with why it is
/// a guess.
fn choose_snapshotter(flag: Option<&str>, config: Option<&serde_json::Value>) -> (String, Option<&'static str>) {
    if let Some(flag) = flag {
        return (flag.to_owned(), None);
    }
    match config.map(cri::snapshotter) {
        Some(Some(snapshotter)) => (snapshotter, None),
        Some(None) => (
            "overlayfs".to_owned(),
            Some("containerd's CRI config names no snapshotter: unpacking into overlayfs (choose another with --snapshotter)"),
        ),
        None => (
            "overlayfs".to_owned(),
            Some("containerd's CRI plugin reports no config: unpacking into overlayfs (choose another with --snapshotter)"),
        ),
    }
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

/// An import's images, manifest, `configs/` files and the binaries staged with them.
type Imported = (Vec<ImportedImage>, Manifest, BTreeMap<String, String>, Option<Staging>);

async fn import_leased(
    options: &ImportOptions,
    binaries: Option<Staging>,
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
        gate: options.gate(),
        dry_run: options.dry_run,
        small: BTreeMap::new(),
        wanted: HashMap::new(),
        configs: BTreeMap::new(),
        written: 0,
        events: Some(events),
        refused: Vec::new(),
    };
    let (keys, signature, bundle_path) = (options.keys.clone(), options.file_signature.clone(), options.bundle.clone());
    let (verified, mut sink, binaries) = tokio::task::spawn_blocking(move || {
        let mut both = WithBinaries { sink: &mut sink, binaries };
        let verified = bundle::verify_stream(io::BufReader::with_capacity(1 << 20, file), &keys, signature.as_deref(), &mut both);
        let binaries = both.binaries;
        (verified, sink, binaries)
    })
    .await
    .map_err(|e| ImportError::Join(e.to_string()))?;
    // Close the event channel and let eager unpacking finish before anything else touches the
    // snapshots. On failure it starts nothing more, but the layers being applied are let finish:
    // the lease can only be ended once nothing writes into its snapshots.
    let settled = settle(verified, std::mem::take(&mut sink.refused));
    stop.store(!matches!(settled, Ok(Ok(_))), std::sync::atomic::Ordering::Relaxed);
    drop(sink.events.take());
    if let Some(eager) = eager {
        eager.await.map_err(|e| ImportError::Join(e.to_string()))?;
    }
    let settled = settled.inspect_err(|_| reading.abandon())?;
    let manifest = checked(settled, &reading, bundle_path)?.manifest;
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
    Ok((report, manifest, sink.configs, binaries))
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn the_snapshotter_is_the_flag_else_the_cri_plugins_else_overlayfs_with_a_warning() {
        let config = json!({"containerd": {"snapshotter": "native"}});
        assert_eq!(super::choose_snapshotter(Some("zfs"), Some(&config)), ("zfs".to_owned(), None));
        assert_eq!(super::choose_snapshotter(None, Some(&config)), ("native".to_owned(), None));
        let (snapshotter, why) = super::choose_snapshotter(None, Some(&json!({})));
        assert_eq!((snapshotter.as_str(), why.is_some_and(|w| w.contains("names no snapshotter"))), ("overlayfs", true));
        let (snapshotter, why) = super::choose_snapshotter(None, None);
        assert_eq!((snapshotter.as_str(), why.is_some_and(|w| w.contains("reports no config"))), ("overlayfs", true));
    }
}
