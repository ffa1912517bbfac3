//! What the kubelet sees: CRI calls over the runtime's socket (`Version`, `ImageStatus`, the
//! sandbox image from `Status`).

use std::time::Duration;

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{ImageSpec, ImageStatusRequest, StatusRequest, VersionRequest};
use tonic::transport::Channel;

/// A CRI call failed.
#[derive(Debug, thiserror::Error)]
#[error("CRI call {call} failed on the runtime socket")]
pub struct CriError {
    /// The RPC.
    pub call: &'static str,
    /// Why.
    #[source]
    pub source: tonic::Status,
}

/// CRI clients over one channel.
#[derive(Clone)]
pub struct Cri {
    images: ImageServiceClient<Channel>,
    runtime: RuntimeServiceClient<Channel>,
}

impl Cri {
    /// Wraps a connected channel.
    pub fn new(channel: Channel) -> Self {
        Self { images: ImageServiceClient::new(channel.clone()), runtime: RuntimeServiceClient::new(channel) }
    }

    /// `runtime_name runtime_version` (`containerd v1.6.20`).
    pub async fn version(&mut self) -> Result<(String, String), CriError> {
        let v = self
            .runtime
            .version(VersionRequest { version: "v1".into() })
            .await
            .map_err(|source| CriError { call: "Version", source })?
            .into_inner();
        Ok((v.runtime_name, v.runtime_version))
    }

    /// The image id the kubelet would see for `name`, retrying briefly: the CRI plugin learns of
    /// images created through containerd's API from events.
    pub async fn image_id(&mut self, name: &str) -> Result<Option<String>, CriError> {
        for attempt in 0..20 {
            let request = ImageStatusRequest { image: Some(ImageSpec { image: name.into(), ..Default::default() }), verbose: false };
            let status = self.images.image_status(request).await.map_err(|source| CriError { call: "ImageStatus", source })?.into_inner();
            if let Some(image) = status.image {
                return Ok(Some(image.id));
            }
            if attempt < 19 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(None)
    }

    /// The sandbox (pause) image the runtime is configured with, if it says (containerd and
    /// CRI-O report their config in a verbose `Status`).
    pub async fn sandbox_image(&mut self) -> Result<Option<String>, CriError> {
        let status =
            self.runtime.status(StatusRequest { verbose: true }).await.map_err(|source| CriError { call: "Status", source })?.into_inner();
        let config = status.info.get("config").and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok());
        let image =
            config.as_ref().and_then(|c| c.get("sandboxImage").or_else(|| c.pointer("/pinnedImages/sandbox"))).and_then(|v| v.as_str());
        Ok(image.map(str::to_owned))
    }
}
