//! containerd, through its own gRPC API: content written under a lease with expected digests,
//! layers unpacked into the CRI snapshotter, image records (pinned) created last.
//! Recipe verified against containerd 1.6 (works on 1.7 and 2.x, which share these services).
//! Layers are applied by airadm itself into the mounts `Snapshots.Prepare` hands out (as any
//! containerd client may), or by containerd's `Diff.Apply`.

mod apply;
mod content;
mod host;
mod mounts;
mod unpack;

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use containerd_client::services::v1::{
    AddResourceRequest, CreateImageRequest, CreateRequest as CreateLeaseRequest, DeleteRequest as DeleteLeaseRequest, Image, Resource,
    UpdateImageRequest, images_client::ImagesClient, leases_client::LeasesClient,
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
