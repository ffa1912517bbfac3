//! containerd, through its own gRPC API: content written under a lease with expected digests,
//! layers unpacked into the CRI snapshotter, image records (pinned) created last.
//! Recipe verified against containerd 1.6 (works on 1.7 and 2.x, which share these services).
//! Layers are applied by airadm itself into the mounts `Snapshots.Prepare` hands out (as any
//! containerd client may), or by containerd's `Diff.Apply`.

mod apply;
mod mounts;

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;

use bundle::Digest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::{
    AbortRequest, AddResourceRequest, ApplyRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest,
    DeleteRequest as DeleteLeaseRequest, Image, Info, InfoRequest, ReadContentRequest, Resource, UpdateImageRequest, UpdateRequest,
    WriteAction, WriteContentRequest, content_client::ContentClient, diff_client::DiffClient, images_client::ImagesClient,
    leases_client::LeasesClient,
};
use containerd_client::services::v1::{PluginsRequest, introspection_client::IntrospectionClient};
use containerd_client::types::{Descriptor, Mount};
use tonic::transport::Channel;
use tonic::{Code, Request};

/// The namespace the CRI plugin (and so the kubelet) uses.
pub const NAMESPACE: &str = "k8s.io";
/// Labels every imported image carries: managed by CRI, pinned against the kubelet's image GC.
pub const IMAGE_LABELS: &[(&str, &str)] = &[("io.cri-containerd.image", "managed"), ("io.cri-containerd.pinned", "pinned")];

/// A containerd call failed.
#[derive(Debug, thiserror::Error)]
#[error("containerd {call} failed for {what}")]
pub struct ContainerdError {
    /// The RPC.
    pub call: &'static str,
    /// The object (blob digest, image name, snapshot).
    pub what: String,
    /// Why.
    #[source]
    pub source: tonic::Status,
}

fn fail(call: &'static str, what: impl std::fmt::Display) -> impl FnOnce(tonic::Status) -> ContainerdError {
    let what = what.to_string();
    move |source| ContainerdError { call, what, source }
}

pub use apply::ApplyError;

/// Unpacking a layer failed (nothing was committed).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// A containerd call failed.
    #[error(transparent)]
    Containerd(#[from] ContainerdError),
    /// airadm's applier failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The snapshot's overlay could not be mounted.
    #[error("cannot mount snapshot `{key}` to apply layer {layer} (AIRADM_APPLIER=containerd leaves applying to containerd)")]
    Mount {
        /// The active snapshot.
        key: String,
        /// The layer blob.
        layer: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The uncompressed layer is not what the image config says.
    #[error("layer {layer} uncompresses to {actual}, but its image config says {expected}: the image is corrupt")]
    DiffIdMismatch {
        /// The layer blob.
        layer: String,
        /// The diffID from the image config.
        expected: String,
        /// What the uncompressed bytes hash to.
        actual: String,
    },
    /// `Diff.Apply` answered without saying what it applied.
    #[error(
        "containerd's Diff.Apply of layer {layer} returned no applied digest: the layer cannot be checked against its diffID (check containerd's differ, or leave applying to airadm)"
    )]
    NoApplied {
        /// The layer blob.
        layer: String,
    },
    /// The applying thread died.
    #[error("internal error applying layer {layer}: {reason}")]
    Join {
        /// The layer blob.
        layer: String,
        /// Why.
        reason: String,
    },
}

/// Who writes a layer's files into its snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Applier {
    /// airadm, in this process, into the snapshot's mounts; containerd's `Diff.Apply` for mounts
    /// and media types it does not handle.
    #[default]
    Airadm,
    /// Always containerd's `Diff.Apply`.
    Containerd,
}

/// A connection to containerd, in namespace `k8s.io`.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    lease: Option<String>,
    applier: Applier,
    /// containerd's local content store, when it is on this host.
    content_root: Option<PathBuf>,
}

impl Containerd {
    /// Wraps a connected channel.
    pub fn new(channel: Channel) -> Self {
        Self { channel, lease: None, applier: Applier::default(), content_root: None }
    }

    /// Chooses who applies layers.
    pub fn with_applier(self, applier: Applier) -> Self {
        Self { applier, ..self }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        // Both values are ASCII: the namespace is a constant, lease ids are ours.
        #[allow(clippy::unwrap_used)]
        {
            request.metadata_mut().insert("containerd-namespace", NAMESPACE.parse().unwrap());
            if let Some(lease) = &self.lease {
                request.metadata_mut().insert("containerd-lease", lease.parse().unwrap());
            }
        }
        request
    }

    /// Creates a lease (expiring on its own after an hour, should we die) that protects all
    /// content written through this connection until images reference it.
    pub async fn begin_lease(&mut self, id: &str, expires: &str) -> Result<(), ContainerdError> {
        let labels = HashMap::from([("containerd.io/gc.expire".to_owned(), expires.to_owned())]);
        LeasesClient::new(self.channel.clone())
            .create(self.request(CreateLeaseRequest { id: id.into(), labels }))
            .await
            .map_err(fail("Leases.Create", id))?;
        self.lease = Some(id.to_owned());
        Ok(())
    }

    /// Deletes the lease and waits for containerd's garbage collector (`sync`): when this
    /// returns, content, ingests and snapshots that only the lease held are gone.
    pub async fn end_lease(&mut self) -> Result<(), ContainerdError> {
        let Some(id) = self.lease.take() else { return Ok(()) };
        LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteLeaseRequest { id: id.clone(), sync: true }))
            .await
            .map_err(fail("Leases.Delete", id))?;
        Ok(())
    }

    /// Adds a resource (`content`, `snapshots/<snapshotter>`) to the lease, whether or not it
    /// exists yet: from then on the garbage collector keeps it.
    async fn hold(&self, kind: String, id: &str) -> Result<(), ContainerdError> {
        let Some(lease) = &self.lease else { return Ok(()) };
        let request = AddResourceRequest { id: lease.clone(), resource: Some(Resource { id: id.to_owned(), r#type: kind }) };
        LeasesClient::new(self.channel.clone()).add_resource(self.request(request)).await.map_err(fail("Leases.AddResource", id))?;
        Ok(())
    }

    /// True when the content store has `digest`, which from now on the lease holds: a blob
    /// that only another (ended) lease held may be collected any moment, so it is added to ours
    /// first and looked up after.
    pub async fn hold_blob(&self, digest: &Digest) -> Result<bool, ContainerdError> {
        self.hold("content".to_owned(), &digest.to_string()).await?;
        self.has_blob(digest).await
    }

    /// True when the content store has `digest` (not held: for dry runs and checks).
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, ContainerdError> {
        match ContentClient::new(self.channel.clone()).info(self.request(InfoRequest { digest: digest.to_string() })).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(fail("Content.Info", digest)(status)),
        }
    }

    /// A small blob (a manifest, a config) from the content store, at most `limit` bytes, checked
    /// against its digest.
    pub async fn read_small_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, ContainerdError> {
        let request = ReadContentRequest { digest: digest.to_string(), offset: 0, size: 0 };
        let mut stream =
            ContentClient::new(self.channel.clone()).read(self.request(request)).await.map_err(fail("Content.Read", digest))?.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(fail("Content.Read", digest))? {
            if (bytes.len() + chunk.data.len()) as u64 > limit {
                return Err(fail("Content.Read", digest)(tonic::Status::out_of_range(format!("the blob is larger than {limit} bytes"))));
            }
            bytes.extend_from_slice(&chunk.data);
        }
        if Digest::of(&bytes) != *digest {
            return Err(fail("Content.Read", digest)(tonic::Status::data_loss("the content store's bytes do not hash to the digest")));
        }
        Ok(bytes)
    }

    /// The ingest ref of `digest` for this import: never one an earlier (killed or refused)
    /// import left, whose bytes nobody here checked.
    fn ingest_ref(&self, digest: &Digest) -> String {
        match &self.lease {
            Some(lease) => format!("{lease}-{}", digest.hex()),
            None => format!("airadm-{}-{}", std::process::id(), digest.hex()),
        }
    }

    /// Streams a blob into the content store; containerd checks size and digest at commit.
    /// When `chunks` ends before `size` bytes (the bundle failed mid-entry), or the commit is
    /// refused, the ingest is aborted: nothing of it stays.
    pub async fn write_blob(
        &self,
        digest: &Digest,
        size: u64,
        labels: HashMap<String, String>,
        chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), ContainerdError> {
        let reference = self.ingest_ref(digest);
        let written = self.write_ingest(&reference, digest, size, labels, chunks).await;
        if written.is_err() {
            // The stream is closed; the ingest (if containerd created one) is removed now
            // rather than by the collector after the lease.
            let abort = AbortRequest { r#ref: reference.clone() };
            match ContentClient::new(self.channel.clone()).abort(self.request(abort)).await {
                Err(status) if status.code() != Code::NotFound => return Err(fail("Content.Abort", &reference)(status)),
                _ => {}
            }
        }
        written
    }

    async fn write_ingest(
        &self,
        reference: &str,
        digest: &Digest,
        size: u64,
        labels: HashMap<String, String>,
        mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), ContainerdError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
        let expected = digest.to_string();
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: reference.to_owned(),
            total: size as i64,
            expected: expected.clone(),
            ..Default::default()
        };
        // Queue the first message before awaiting the call: containerd answers headers only
        // after reading it.
        let _ = tx.send(stat).await;
        let mut responses = ContentClient::new(self.channel.clone())
            .write(self.request(tokio_stream::wrappers::ReceiverStream::new(rx)))
            .await
            .map_err(fail("Content.Write", digest))?
            .into_inner();
        let next = |r: Result<Option<containerd_client::services::v1::WriteContentResponse>, tonic::Status>| match r {
            Ok(Some(response)) => Ok(response.offset),
            Ok(None) => Err(tonic::Status::aborted("stream ended")),
            Err(status) => Err(status),
        };
        next(responses.message().await).map_err(fail("Content.Write", digest))?;
        let mut offset = 0i64;
        while let Some(chunk) = chunks.recv().await {
            let len = chunk.len() as i64;
            let write = WriteContentRequest { action: WriteAction::Write as i32, offset, data: chunk, ..Default::default() };
            if tx.send(write).await.is_err() {
                break;
            }
            next(responses.message().await).map_err(fail("Content.Write", digest))?;
            offset += len;
        }
        if offset != size as i64 {
            return Err(fail("Content.Write", digest)(tonic::Status::cancelled(format!(
                "the bundle entry ended after {offset} of {size} bytes"
            ))));
        }
        let commit =
            WriteContentRequest { action: WriteAction::Commit as i32, total: size as i64, offset, expected, labels, ..Default::default() };
        let _ = tx.send(commit).await;
        next(responses.message().await).map_err(fail("Content.Commit", digest))?;
        Ok(())
    }

    /// Sets labels on a blob (only those keys change).
    pub async fn label_blob(&self, digest: &Digest, labels: HashMap<String, String>) -> Result<(), ContainerdError> {
        let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
        let info = Info { digest: digest.to_string(), labels, ..Default::default() };
        let request = UpdateRequest { info: Some(info), update_mask: Some(prost_types::FieldMask { paths }) };
        ContentClient::new(self.channel.clone()).update(self.request(request)).await.map_err(fail("Content.Update", digest))?;
        Ok(())
    }

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
            Some(target) if self.applier == Applier::Airadm && applies_media_type(&layer.media_type) => {
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

    /// Asks containerd where its local content store keeps blobs (the `content` plugin exports
    /// its `root`), so that layers are read from there rather than streamed over gRPC. Without an
    /// answer, or with a remote store, blobs are streamed.
    pub async fn with_local_content(self) -> Self {
        let request = PluginsRequest { filters: vec!["type==io.containerd.content.v1,id==content".into()] };
        let root = match IntrospectionClient::new(self.channel.clone()).plugins(self.request(request)).await {
            Ok(response) => response.into_inner().plugins.into_iter().find_map(|p| p.exports.get("root").map(PathBuf::from)),
            Err(_) => None,
        };
        let content_root = root.filter(|r| r.is_dir());
        tracing::debug!(content_root = ?content_root, "containerd's local content store");
        Self { content_root, ..self }
    }

    /// Creates or updates the image record `name` pointing at `target`.
    pub async fn put_image(&self, name: &str, target: Descriptor) -> Result<(), ContainerdError> {
        let labels = IMAGE_LABELS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let image = Image { name: name.into(), labels, target: Some(target), ..Default::default() };
        let mut images = ImagesClient::new(self.channel.clone());
        match images.create(self.request(CreateImageRequest { image: Some(image.clone()), ..Default::default() })).await {
            Err(status) if status.code() == Code::AlreadyExists => {
                let update = UpdateImageRequest { image: Some(image), ..Default::default() };
                images.update(self.request(update)).await.map_err(fail("Images.Update", name))?;
                Ok(())
            }
            other => other.map(|_| ()).map_err(fail("Images.Create", name)),
        }
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
