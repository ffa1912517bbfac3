//! Unpacking a layer into a snapshot: prepared, applied by airadm into its mounts (the blob read
//! from the local content store or through `Content.Read`) or by containerd's `Diff.Apply`,
//! checked against the layer's diffID, then committed.

use std::collections::HashMap;
use std::io::{self, Read};

use bundle::Digest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::{ApplyRequest, ReadContentRequest, content_client::ContentClient, diff_client::DiffClient};
use containerd_client::types::{Descriptor, Mount};
use tonic::Code;

use super::{Applier, Containerd, ContainerdError, UnpackError, apply, fail, mounts};

impl Containerd {
    /// Unpacks one layer on top of `parent` into snapshot `chain_id`, unless it exists; the
    /// layer must uncompress to `diff_id`. Returns true when it did work.
    pub async fn unpack_layer(
        &self,
        snapshotter: &str,
        parent: &str,
        chain_id: &str,
        layer: &Descriptor,
        diff_id: &str,
    ) -> Result<bool, UnpackError> {
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        // Held before it is looked at: a snapshot only an ended lease held may be collected.
        self.hold(format!("snapshots/{snapshotter}"), chain_id).await?;
        let stat = StatSnapshotRequest { snapshotter: snapshotter.into(), key: chain_id.into() };
        match snapshots.stat(self.request(stat)).await {
            Ok(_) => return Ok(false),
            Err(status) if status.code() == Code::NotFound => {}
            Err(status) => return Err(fail("Snapshots.Stat", chain_id)(status).into()),
        }
        // Unique per attempt: an attempt that failed after Prepare leaves its key behind (under
        // the lease, so it is collected), and a retry must not collide with it.
        static ATTEMPT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let attempt = ATTEMPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = format!("extract-airadm-{}-{attempt}-{chain_id}", std::process::id());
        let labels = HashMap::from([("containerd.io/snapshot.ref".to_owned(), chain_id.to_owned())]);
        let prepare =
            PrepareSnapshotRequest { snapshotter: snapshotter.into(), key: key.clone(), parent: parent.into(), labels: labels.clone() };
        let mounts = snapshots.prepare(self.request(prepare)).await.map_err(fail("Snapshots.Prepare", chain_id))?.into_inner().mounts;
        let applied = match self.apply(&key, mounts, layer).await {
            Ok(applied) if applied == diff_id => Ok(()),
            Ok(actual) => Err(UnpackError::DiffIdMismatch { layer: layer.digest.clone(), expected: diff_id.into(), actual }),
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            // Half-written: never committed, and removed now rather than at lease end.
            let remove = RemoveSnapshotRequest { snapshotter: snapshotter.into(), key };
            let _ = snapshots.remove(self.request(remove)).await;
            return Err(e);
        }
        let commit = CommitSnapshotRequest { snapshotter: snapshotter.into(), name: chain_id.into(), key, labels };
        match snapshots.commit(self.request(commit)).await {
            Err(status) if status.code() != Code::AlreadyExists => Err(fail("Snapshots.Commit", chain_id)(status).into()),
            _ => Ok(true),
        }
    }

    /// Applies `layer` to the prepared snapshot `key`; returns the diffID of what was applied.
    async fn apply(&self, key: &str, mounts: Vec<Mount>, layer: &Descriptor) -> Result<String, UnpackError> {
        match mounts::Target::of(&mounts) {
            Some(target) if self.applier == Applier::Airadm && applies_media_type(&layer.media_type) && target.visible() => {
                self.apply_here(key, target, layer).await
            }
            _ => {
                let apply = ApplyRequest { diff: Some(layer.clone()), mounts, ..Default::default() };
                let applied = DiffClient::new(self.channel.clone())
                    .apply(self.request(apply))
                    .await
                    .map_err(fail("Diff.Apply", &layer.digest))?
                    .into_inner()
                    .applied;
                applied_diff_id(applied, &layer.digest)
            }
        }
    }

    /// Applies the blob with [`apply::apply_layer`] on a blocking thread.
    async fn apply_here(&self, key: &str, target: mounts::Target, layer: &Descriptor) -> Result<String, UnpackError> {
        let blob: Box<dyn Read + Send> = match self.local_blob(&layer.digest) {
            Some(file) => Box::new(file),
            None => Box::new(self.read_blob(&layer.digest).await?),
        };
        let (key, digest) = (key.to_owned(), layer.digest.clone());
        tokio::task::spawn_blocking(move || {
            let mounted = mounts::Mounted::new(&target).map_err(|source| UnpackError::Mount { key, layer: digest.clone(), source })?;
            tracing::debug!(layer = %digest, root = %mounted.root().display(), "applying layer");
            let applied = apply::apply_layer(mounted.root(), blob, &digest)?;
            Ok::<_, UnpackError>(applied.diff_id.to_string())
        })
        .await
        .map_err(|e| UnpackError::Join { layer: layer.digest.clone(), reason: e.to_string() })?
    }

    /// The blob's file in containerd's local content store, when containerd said where that is
    /// and the file opens. Reading it is as good as `Content.Read`: the blob is committed
    /// (immutable), under our lease, and what it unpacks to is checked against the diffID.
    fn local_blob(&self, digest: &str) -> Option<fs_err::File> {
        let digest: Digest = digest.parse().ok()?;
        let path = self.content_root.as_ref()?.join("blobs/sha256").join(digest.hex());
        fs_err::File::open(path).ok()
    }

    /// The blob through `Content.Read`, as a blocking reader.
    async fn read_blob(&self, digest: &str) -> Result<ChunkReader, ContainerdError> {
        let request = ReadContentRequest { digest: digest.to_owned(), offset: 0, size: 0 };
        let mut stream =
            ContentClient::new(self.channel.clone()).read(self.request(request)).await.map_err(fail("Content.Read", digest))?.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(2);
        // Ends when the stream does or the reader is dropped.
        tokio::spawn(async move {
            loop {
                let chunk = match stream.message().await {
                    Ok(Some(response)) => Ok(response.data),
                    Ok(None) => break,
                    Err(status) => Err(io::Error::other(status)),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(ChunkReader::new(rx))
    }
}

/// The diffID `Diff.Apply` reports for `layer`; its absence is an error, never an empty diffID.
fn applied_diff_id(applied: Option<Descriptor>, layer: &str) -> Result<String, UnpackError> {
    match applied {
        Some(descriptor) if !descriptor.digest.is_empty() => Ok(descriptor.digest),
        _ => Err(UnpackError::NoApplied { layer: layer.to_owned() }),
    }
}

/// Layer media types airadm applies itself: tar, gzip or not (zstd and encrypted layers go to
/// containerd).
fn applies_media_type(media_type: &str) -> bool {
    [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ]
    .contains(&media_type)
}

/// The chunks of a `Content.Read` stream, as a blocking reader.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    position: usize,
}

impl ChunkReader {
    fn new(chunks: tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>>) -> Self {
        Self { chunks, current: Vec::new(), position: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            match self.chunks.blocking_recv() {
                Some(chunk) => (self.current, self.position) = (chunk?, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use containerd_client::types::Descriptor;

    #[test]
    fn diff_apply_without_an_applied_digest_is_an_error_naming_the_layer() {
        for applied in [None, Some(Descriptor::default())] {
            let err = super::applied_diff_id(applied, "sha256:ab").unwrap_err();
            assert!(matches!(&err, super::UnpackError::NoApplied { layer } if layer == "sha256:ab"), "{err}");
            assert!(err.to_string().contains("layer sha256:ab returned no applied digest"), "{err}");
        }
        let applied = Descriptor { digest: "sha256:cd".into(), ..Default::default() };
        assert_eq!(super::applied_diff_id(Some(applied), "sha256:ab").unwrap(), "sha256:cd");
    }
}
