//! containerd, through its own gRPC API: content written under a lease with expected digests,
//! layers unpacked into the CRI snapshotter, image records (pinned) created last.
//! Recipe verified against containerd 1.6 (works on 1.7 and 2.x, which share these services).

use std::collections::HashMap;

use bundle::Digest;
use containerd_client::services::v1::snapshots::snapshots_client::SnapshotsClient;
use containerd_client::services::v1::snapshots::{CommitSnapshotRequest, PrepareSnapshotRequest, StatSnapshotRequest};
use containerd_client::services::v1::{
    ApplyRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteRequest as DeleteLeaseRequest, Image, Info, InfoRequest,
    UpdateImageRequest, UpdateRequest, WriteAction, WriteContentRequest, content_client::ContentClient, diff_client::DiffClient,
    images_client::ImagesClient, leases_client::LeasesClient,
};
use containerd_client::types::Descriptor;
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

/// A connection to containerd, in namespace `k8s.io`.
#[derive(Clone)]
pub struct Containerd {
    channel: Channel,
    lease: Option<String>,
}

impl Containerd {
    /// Wraps a connected channel.
    pub fn new(channel: Channel) -> Self {
        Self { channel, lease: None }
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

    /// Deletes the lease; unreferenced content written under it becomes garbage.
    pub async fn end_lease(&mut self) -> Result<(), ContainerdError> {
        let Some(id) = self.lease.take() else { return Ok(()) };
        LeasesClient::new(self.channel.clone())
            .delete(self.request(DeleteLeaseRequest { id: id.clone(), sync: false }))
            .await
            .map_err(fail("Leases.Delete", id))?;
        Ok(())
    }

    /// True when the content store already has `digest`.
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, ContainerdError> {
        match ContentClient::new(self.channel.clone()).info(self.request(InfoRequest { digest: digest.to_string() })).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(fail("Content.Info", digest)(status)),
        }
    }

    /// Streams a blob into the content store; containerd checks size and digest at commit.
    /// An interrupted earlier write of the same blob is resumed.
    pub async fn write_blob(
        &self,
        digest: &Digest,
        size: u64,
        labels: HashMap<String, String>,
        mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), ContainerdError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
        let expected = digest.to_string();
        let stat = WriteContentRequest {
            action: WriteAction::Stat as i32,
            r#ref: format!("airadm-{}", digest.hex()),
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
        let resumed = next(responses.message().await).map_err(fail("Content.Write", digest))?;
        let mut offset = 0i64;
        while let Some(chunk) = chunks.recv().await {
            let len = chunk.len() as i64;
            // Bytes containerd already has from an interrupted import are skipped.
            let skip = (resumed - offset).clamp(0, len) as usize;
            if skip < chunk.len() {
                let write = WriteContentRequest {
                    action: WriteAction::Write as i32,
                    offset: offset + skip as i64,
                    data: chunk[skip..].to_vec(),
                    ..Default::default()
                };
                if tx.send(write).await.is_err() {
                    break;
                }
                next(responses.message().await).map_err(fail("Content.Write", digest))?;
            }
            offset += len;
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

    /// Unpacks one layer on top of `parent` into snapshot `chain_id`, unless it exists.
    /// Returns true when it did work.
    pub async fn unpack_layer(&self, snapshotter: &str, parent: &str, chain_id: &str, layer: &Descriptor) -> Result<bool, ContainerdError> {
        let mut snapshots = SnapshotsClient::new(self.channel.clone());
        let stat = StatSnapshotRequest { snapshotter: snapshotter.into(), key: chain_id.into() };
        if snapshots.stat(self.request(stat)).await.is_ok() {
            return Ok(false);
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
        let apply = ApplyRequest { diff: Some(layer.clone()), mounts, ..Default::default() };
        DiffClient::new(self.channel.clone()).apply(self.request(apply)).await.map_err(fail("Diff.Apply", &layer.digest))?;
        let commit = CommitSnapshotRequest { snapshotter: snapshotter.into(), name: chain_id.into(), key, labels };
        match snapshots.commit(self.request(commit)).await {
            Err(status) if status.code() != Code::AlreadyExists => Err(fail("Snapshots.Commit", chain_id)(status)),
            _ => Ok(true),
        }
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
