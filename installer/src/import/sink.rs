//! The entry sinks the verifying reader feeds: [`Sink`] streams blobs into containerd's content
//! store, [`StagingSink`] writes the OCI layout to a staging directory, [`Gate`] refuses a bundle
//! for another architecture, or another bundle than the one the caller already checked;
//! [`WithBinaries`] has the same pass stage the node binaries too.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::PathBuf;

use bundle::oci_layout;
use bundle::{Digest, Entry, EntryPath, EntrySink, Manifest, VerifyError};
use tokio::runtime::Handle;

use super::ImportError;
use crate::runtime::containerd::{Containerd, ContainerdError};

/// What the verification and the content store said together: a bundle that checked out
/// although containerd refused one of its blobs as not matching its digest is an error naming
/// that entry, never an import with a blob missing.
pub(super) fn settle<V>(
    verified: Result<V, VerifyError>,
    refused: Vec<(EntryPath, ContainerdError)>,
) -> Result<Result<V, VerifyError>, ImportError> {
    match (verified, refused.into_iter().next()) {
        (Ok(_), Some((entry, source))) => Err(ImportError::Refused { entry, source }),
        (verified, _) => Ok(verified),
    }
}

/// Writes the layout entries (`oci/…`) into a staging directory as they stream. Entry paths are
/// already proven relative and `..`-free by the reader.
pub(super) struct StagingSink {
    pub(super) dir: PathBuf,
    pub(super) gate: Gate,
    /// The bundle's `configs/` files.
    pub(super) configs: BTreeMap<String, String>,
}

impl EntrySink for StagingSink {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        self.gate.begin(manifest)
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

/// Refuses, before any blob is used, a bundle for another architecture, and a bundle whose
/// signed manifest is not the `expected` one: `init` checks the manifest first and decides from
/// it, so what it imports must be what it checked. The manifest lists every entry's size and
/// sha256, and the verifier holds each entry to it, so an equal manifest means equal bytes.
#[derive(Clone)]
pub(super) struct Gate {
    pub(super) arch: String,
    pub(super) expected: Option<Manifest>,
}

impl Gate {
    pub(super) fn refusal(&self, manifest: &Manifest) -> Option<String> {
        if manifest.arch != self.arch {
            return Some(format!(
                "the bundle is for linux/{}, this node wants linux/{}: use the {} bundle, or pass --arch {} to import it anyway",
                manifest.arch, self.arch, self.arch, manifest.arch
            ));
        }
        let expected = self.expected.as_ref().filter(|expected| *expected != manifest)?;
        let describe = |m: &Manifest| format!("{} {} built {}", m.kubernetes_version, m.arch, m.created);
        let now = match describe(manifest) {
            same if same == describe(expected) => format!("{same} with other entries"),
            other => other,
        };
        Some(format!(
            "the bundle changed while airadm used it: it was checked as {}, it now reads as {now}; \
             leave the file alone and run the command again",
            describe(expected)
        ))
    }
}

impl EntrySink for Gate {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        self.refusal(manifest).map_or(Ok(()), |why| Err(io::Error::other(why)))
    }

    fn entry(&mut self, _entry: &Entry, _data: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// An import's sink and, in the same pass, the node binaries to stage (init's and join's
/// `binaries` phase commits them afterwards instead of verifying the bundle again).
pub(super) struct WithBinaries<'a> {
    pub(super) sink: &'a mut dyn EntrySink,
    pub(super) binaries: Option<crate::binaries::Staging>,
}

impl EntrySink for WithBinaries<'_> {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        self.sink.begin(manifest)?;
        self.binaries.as_mut().map_or(Ok(()), |b| b.begin(manifest))
    }

    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        match &mut self.binaries {
            Some(binaries) if binaries.wants(&entry.path) => binaries.entry(entry, data),
            _ => self.sink.entry(entry, data),
        }
    }
}

/// Receives the verified stream: writes blobs containerd lacks, keeps manifests and configs.
pub(super) struct Sink {
    pub(super) handle: Handle,
    pub(super) containerd: Containerd,
    pub(super) gate: Gate,
    pub(super) dry_run: bool,
    /// Manifests and configs (small), kept for unpacking.
    pub(super) small: BTreeMap<Digest, Vec<u8>>,
    /// GC labels per blob that references others (manifests, index wrappers).
    pub(super) wanted: HashMap<Digest, HashMap<String, String>>,
    /// The bundle's `configs/` files.
    pub(super) configs: BTreeMap<String, String>,
    pub(super) written: u64,
    /// Blobs now in the content store (with their bytes when kept), for eager unpacking.
    pub(super) events: Option<tokio::sync::mpsc::UnboundedSender<(Digest, Vec<u8>)>>,
    /// Blobs whose commit containerd refused for not matching their digest. The verifier, which
    /// hashes the same bytes, then refuses the bundle naming the entry; should it not, the
    /// import fails on these (see [`settle`]).
    pub(super) refused: Vec<(EntryPath, ContainerdError)>,
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
        self.gate.begin(manifest)?;
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
            if keep && !self.dry_run {
                // The store's own bytes: the bundle's are checked only after this returns (the
                // verifier drains and hashes them).
                kept = self.handle.block_on(self.containerd.read_small_blob(&digest, MAX_SMALL)).map_err(io::Error::other)?;
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
            Err(e) if e.source.code() == tonic::Code::FailedPrecondition => {
                self.refused.push((entry.path.clone(), e));
                return Ok(());
            }
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bundle::{Digest, Entry, EntryPath, EntrySink as _};

    use super::{Gate, Sink};
    use crate::runtime::containerd::Containerd;

    fn manifest(arch: &str, created: &str) -> bundle::Manifest {
        bundle::Manifest {
            schema_version: 1,
            kubernetes_version: "v1.31.2".into(),
            os: "linux".into(),
            arch: arch.into(),
            image_repository: "registry.k8s.io".into(),
            builder: bundle::manifest::BuilderInfo { name: "airbundle".into(), version: "0".into() },
            created: created.into(),
            images: vec![],
            binaries: vec![],
            entries: vec![],
        }
    }

    #[test]
    fn the_gate_refuses_another_arch_and_a_manifest_other_than_the_expected_one() {
        let checked = manifest("amd64", "2026-01-01T00:00:00Z");
        let mut gate = Gate { arch: "amd64".into(), expected: Some(checked.clone()) };
        assert!(gate.begin(&checked).is_ok());
        let err = gate.begin(&manifest("amd64", "2026-02-02T00:00:00Z")).unwrap_err().to_string();
        assert_eq!(
            err,
            "the bundle changed while airadm used it: it was checked as v1.31.2 amd64 built 2026-01-01T00:00:00Z, \
             it now reads as v1.31.2 amd64 built 2026-02-02T00:00:00Z; leave the file alone and run the command again"
        );
        let err = gate.begin(&manifest("arm64", "2026-01-01T00:00:00Z")).unwrap_err().to_string();
        assert!(err.starts_with("the bundle is for linux/arm64, this node wants linux/amd64"), "{err}");
        assert!(Gate { arch: "amd64".into(), expected: None }.begin(&manifest("amd64", "x")).is_ok());
    }

    fn refusal() -> Vec<(EntryPath, crate::runtime::containerd::ContainerdError)> {
        let source = tonic::Status::failed_precondition("unexpected commit digest");
        let error = crate::runtime::containerd::ContainerdError { call: "Content.Commit", what: "sha256:ab".into(), source };
        vec![(EntryPath::new("oci/blobs/sha256/ab").unwrap(), error)]
    }

    #[test]
    fn a_blob_containerd_refused_is_an_error_naming_the_entry_unless_the_bundle_is_refused_anyway() {
        let err = super::settle(Ok(()), refusal()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "containerd refused bundle entry `oci/blobs/sha256/ab` although it matches the signed manifest: run the import again, and check containerd's log if it persists"
        );
        assert!(matches!(
            super::settle(Err::<(), _>(bundle::VerifyError::NoTrustedKeys), refusal()),
            Ok(Err(bundle::VerifyError::NoTrustedKeys))
        ));
        assert!(matches!(super::settle(Ok(()), vec![]), Ok(Ok(()))));
    }

    /// A manifest already in containerd is announced to the unpacker with containerd's bytes,
    /// not with the bundle's, which are only checked once the sink has returned.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_present_manifest_is_announced_from_the_content_store_not_from_the_bundle() {
        let ctd = testkit::Containerd::start("registry.k8s.io/pause:3.10");
        let channel = containerd_client::connect(ctd.socket()).await.unwrap();
        let mut containerd = Containerd::new(channel);
        let stored = br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:00","size":1},"layers":[]}"#.to_vec();
        let digest = Digest::of(&stored);
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(stored.clone()).await.unwrap();
        drop(tx);
        containerd.write_blob(&digest, stored.len() as u64, HashMap::new(), rx).await.unwrap();
        containerd.begin_lease("airadm-test-present", "2999-01-01T00:00:00Z").await.unwrap();

        let (events, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        let mut sink = Sink {
            handle: tokio::runtime::Handle::current(),
            containerd: containerd.clone(),
            gate: Gate { arch: "amd64".into(), expected: None },
            dry_run: false,
            small: BTreeMap::new(),
            wanted: HashMap::from([(digest, HashMap::new())]),
            configs: BTreeMap::new(),
            written: 0,
            events: Some(events),
            refused: Vec::new(),
        };
        // The bundle's entry claims the stored digest but carries other bytes.
        let tampered = br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:11","size":1},"layers":[]}"#.to_vec();
        let entry = Entry {
            path: EntryPath::new(&format!("oci/blobs/sha256/{}", digest.hex())).unwrap(),
            size: tampered.len() as u64,
            sha256: digest,
        };
        let (sink, announced) = tokio::task::spawn_blocking(move || {
            sink.entry(&entry, &mut &tampered[..]).unwrap();
            let announced = arrived.blocking_recv().unwrap();
            (sink, announced)
        })
        .await
        .unwrap();
        assert_eq!(announced, (digest, stored.clone()), "announced bytes the content store does not hold");
        assert_eq!(sink.small.get(&digest), Some(&stored));
        assert_eq!(sink.written, 0);
        containerd.end_lease().await.unwrap();
    }
}
