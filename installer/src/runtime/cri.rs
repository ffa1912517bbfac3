//! What the kubelet sees: CRI calls over the runtime's socket (`Version`, `ImageStatus`, the
//! sandbox image from `Status`), and reset's removal of the pods.

use std::time::Duration;

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ImageSpec, ImageStatusRequest, ListPodSandboxRequest, RemovePodSandboxRequest, StatusRequest, StopPodSandboxRequest, VersionRequest,
};
use tonic::transport::Channel;

/// A CRI call failed.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    /// The call failed.
    #[error("CRI call {call} failed on the runtime socket")]
    Call {
        /// The RPC.
        call: &'static str,
        /// Why.
        #[source]
        source: tonic::Status,
    },
    /// The verbose `Status` reports a config that is not JSON.
    #[error("the runtime's CRI Status reports a `config` that is not JSON: pass --snapshotter, and check the runtime's version")]
    Config {
        /// Why.
        #[source]
        source: serde_json::Error,
    },
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
            .map_err(|source| CriError::Call { call: "Version", source })?
            .into_inner();
        Ok((v.runtime_name, v.runtime_version))
    }

    /// The image id the kubelet would see for `name`, retrying briefly: the CRI plugin learns of
    /// images created through containerd's API from events.
    pub async fn image_id(&mut self, name: &str) -> Result<Option<String>, CriError> {
        for attempt in 0..20 {
            let request = ImageStatusRequest { image: Some(ImageSpec { image: name.into(), ..Default::default() }), verbose: false };
            let status =
                self.images.image_status(request).await.map_err(|source| CriError::Call { call: "ImageStatus", source })?.into_inner();
            if let Some(image) = status.image {
                return Ok(Some(image.id));
            }
            if attempt < 19 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(None)
    }

    /// The runtime's own configuration, as the verbose `Status` reports it (`crictl info`'s
    /// `config`): containerd and CRI-O say; others give `None`.
    pub async fn config(&mut self) -> Result<Option<serde_json::Value>, CriError> {
        let status = self
            .runtime
            .status(StatusRequest { verbose: true })
            .await
            .map_err(|source| CriError::Call { call: "Status", source })?
            .into_inner();
        reported_config(&status.info)
    }

    /// Every pod sandbox's id (kubeadm's `ListKubeContainers`: all of them, not only kubeadm's).
    pub async fn pod_sandboxes(&mut self) -> Result<Vec<String>, CriError> {
        let request = ListPodSandboxRequest { filter: None };
        let list =
            self.runtime.list_pod_sandbox(request).await.map_err(|source| CriError::Call { call: "ListPodSandbox", source })?.into_inner();
        Ok(list.items.into_iter().map(|sandbox| sandbox.id).collect())
    }

    /// Stops and removes a pod sandbox with its containers (kubeadm's `RemoveContainers`).
    pub async fn remove_pod_sandbox(&mut self, id: &str) -> Result<(), CriError> {
        let stop = StopPodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.stop_pod_sandbox(stop).await.map_err(|source| CriError::Call { call: "StopPodSandbox", source })?;
        let remove = RemovePodSandboxRequest { pod_sandbox_id: id.into() };
        self.runtime.remove_pod_sandbox(remove).await.map_err(|source| CriError::Call { call: "RemovePodSandbox", source })?;
        Ok(())
    }
}

/// What the runtime holds under a bundle image's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// The bundle's image: same image id (config digest).
    Same,
    /// Nothing under that name.
    Missing,
    /// Another image under that name: the runtime's image id.
    Other(String),
}

/// `image` against the id the runtime reports for its name. containerd and cri-dockerd report
/// `sha256:<config>`, CRI-O the bare hex of the config digest.
pub fn compare(image: &bundle::Image, id: Option<&str>) -> Held {
    match id {
        None => Held::Missing,
        Some(id) if id.strip_prefix("sha256:").unwrap_or(id) == image.config.hex() => Held::Same,
        Some(id) => Held::Other(id.to_owned()),
    }
}

/// Does the runtime hold each image of this bundle: asked over CRI by name, compared by image
/// id (what the image is), not only by name. One answer per image, in order.
pub async fn held<'i>(cri: &mut Cri, images: &'i [bundle::Image]) -> Result<Vec<(&'i bundle::Image, Held)>, CriError> {
    let mut answers = Vec::new();
    for image in images {
        let id = cri.image_id(&image.name).await?;
        answers.push((image, compare(image, id.as_deref())));
    }
    Ok(answers)
}

/// The images not held as the bundle has them, for an error: `name (missing)`,
/// `name (the runtime's is ID)`; empty when every image is held.
pub fn not_held(answers: &[(&bundle::Image, Held)]) -> String {
    answers
        .iter()
        .filter_map(|(image, held)| match held {
            Held::Same => None,
            Held::Missing => Some(format!("{} (missing)", image.name)),
            Held::Other(id) => Some(format!("{} (the runtime's is {id}, the bundle's {})", image.name, image.config)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `config` of a verbose `Status`'s info: `None` only when the runtime reports none.
fn reported_config(info: &std::collections::HashMap<String, String>) -> Result<Option<serde_json::Value>, CriError> {
    info.get("config").map(|c| serde_json::from_str(c)).transpose().map_err(|source| CriError::Config { source })
}

/// Whether a runtime's reported config says its sandbox image at all (containerd 1.x and 2.0
/// do; from 2.1 the CRI status gives only the runtime config).
pub fn reports_sandbox_image(config: &serde_json::Value) -> bool {
    config.get("sandboxImage").is_some() || config.get("pinnedImages").is_some()
}

/// The sandbox (pause) image in a runtime's reported config (containerd 1.x `sandboxImage`,
/// containerd 2.x `pinnedImages.sandbox`).
pub fn sandbox_image(config: &serde_json::Value) -> Option<String> {
    config.get("sandboxImage").or_else(|| config.pointer("/pinnedImages/sandbox")).and_then(|v| v.as_str()).map(str::to_owned)
}

/// The snapshotter the CRI plugin unpacks images into, from its reported config
/// (`containerd.snapshotter`, or `snapshotter` of the image service in containerd 2.x).
pub fn snapshotter(config: &serde_json::Value) -> Option<String> {
    config
        .pointer("/containerd/snapshotter")
        .or_else(|| config.get("snapshotter"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn images_are_compared_by_config_digest_in_each_runtimes_spelling() {
        let config = bundle::Digest::of(b"config");
        let image = bundle::Image {
            name: "registry.k8s.io/pause:3.10".into(),
            component: "pause".into(),
            digest: bundle::Digest::of(b"manifest"),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: bundle::Platform { os: "linux".into(), architecture: "amd64".into(), variant: None },
            index_digest: None,
            oci_index: None,
            config,
            layers: vec![],
            size: 1,
        };
        assert_eq!(super::compare(&image, Some(&config.to_string())), super::Held::Same);
        assert_eq!(super::compare(&image, Some(&config.hex())), super::Held::Same);
        assert_eq!(super::compare(&image, None), super::Held::Missing);
        let other = bundle::Digest::of(b"other").to_string();
        assert_eq!(super::compare(&image, Some(&other)), super::Held::Other(other.clone()));
        let answers = [(&image, super::Held::Other(other.clone())), (&image, super::Held::Missing), (&image, super::Held::Same)];
        assert_eq!(
            super::not_held(&answers),
            format!("registry.k8s.io/pause:3.10 (the runtime's is {other}, the bundle's {config}), registry.k8s.io/pause:3.10 (missing)")
        );
    }

    #[test]
    fn a_reported_config_that_is_not_json_is_an_error_and_only_an_absent_one_is_none() {
        let info = |v: &str| std::collections::HashMap::from([("config".to_owned(), v.to_owned())]);
        assert_eq!(super::reported_config(&info(r#"{"a":1}"#)).unwrap(), Some(json!({"a": 1})));
        assert_eq!(super::reported_config(&std::collections::HashMap::new()).unwrap(), None);
        let err = super::reported_config(&info("{not json")).unwrap_err();
        assert!(matches!(err, super::CriError::Config { .. }), "{err}");
    }

    #[test]
    fn sandbox_image_and_snapshotter_from_either_containerd_generation() {
        let v1 = json!({"sandboxImage": "registry.k8s.io/pause:3.10", "containerd": {"snapshotter": "native"}});
        assert_eq!(super::sandbox_image(&v1).as_deref(), Some("registry.k8s.io/pause:3.10"));
        assert_eq!(super::snapshotter(&v1).as_deref(), Some("native"));
        let v2 = json!({"pinnedImages": {"sandbox": "registry.k8s.io/pause:3.9"}, "snapshotter": "overlayfs"});
        assert_eq!(super::sandbox_image(&v2).as_deref(), Some("registry.k8s.io/pause:3.9"));
        assert!(super::reports_sandbox_image(&v1) && super::reports_sandbox_image(&v2));
        assert!(!super::reports_sandbox_image(&json!({"containerdRootDir": "/var/lib/containerd", "cni": {}})));
        assert_eq!(super::snapshotter(&v2).as_deref(), Some("overlayfs"));
        assert_eq!(super::snapshotter(&json!({"containerd": {"snapshotter": ""}})), None);
    }
}
