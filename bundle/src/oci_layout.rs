//! The OCI image layout inside a bundle: `oci/oci-layout`, `oci/index.json`, `oci/blobs/sha256/…`.

use serde_json::{Value, json};

use crate::digest::Digest;
use crate::entry_path::EntryPath;
use crate::manifest::Image;

/// Directory of the layout inside the bundle.
pub const LAYOUT_DIR: &str = "oci/";
/// Prefix of every blob entry; the rest of the path is the blob's sha256 in hex.
pub const BLOBS_DIR: &str = "oci/blobs/sha256/";
/// Path of the `oci-layout` marker.
pub const OCI_LAYOUT_PATH: &str = "oci/oci-layout";
/// Path of the layout's index.
pub const INDEX_PATH: &str = "oci/index.json";
/// Annotation the OCI layout spec defines for an image's name.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// Annotation `ctr images import` names images after.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// Media type of an OCI image index.
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of a Docker schema 2 image manifest.
pub const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// True for manifests that `oci/index.json` cannot point at directly: containers/image (skopeo,
/// podman, CRI-O) only resolves OCI-typed descriptors there.
pub fn needs_oci_index(media_type: &str) -> bool {
    media_type == DOCKER_MANIFEST_MEDIA_TYPE
}

/// A one-entry OCI image index around `image`'s platform manifest (deterministic bytes).
pub fn oci_index_bytes(image: &Image, manifest_size: u64) -> Vec<u8> {
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": image.media_type,
            "digest": image.digest.to_string(),
            "size": manifest_size,
            "platform": platform_json(image),
        }],
    });
    // A Value of strings and numbers always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&index).expect("index serialises")
}

fn platform_json(image: &Image) -> Value {
    let mut platform = json!({"os": image.platform.os, "architecture": image.platform.architecture});
    if let Some(variant) = &image.platform.variant {
        platform["variant"] = json!(variant);
    }
    platform
}

/// The entry path of a blob.
pub fn blob_path(digest: &Digest) -> EntryPath {
    // A prefix and 64 hex digits is always a valid entry path.
    #[allow(clippy::expect_used)]
    EntryPath::new(&format!("{BLOBS_DIR}{}", digest.hex())).expect("blob path is valid")
}

/// Contents of `oci/oci-layout`.
pub fn oci_layout_bytes() -> Vec<u8> {
    br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()
}

/// Contents of `oci/index.json`: one descriptor per image, named with both annotations,
/// pointing at the platform manifest, or at its OCI index wrapper when it has one.
/// `blob_sizes` gives the size of a manifest or wrapper blob.
///
/// Built through `serde_json::Value`, whose maps are sorted, so the bytes do not depend on
/// hash-map iteration order (oci-spec's annotation maps are `HashMap`s).
pub fn index_json_bytes(images: &[Image], blob_sizes: impl Fn(&Digest) -> u64) -> Vec<u8> {
    let manifests: Vec<Value> = images
        .iter()
        .map(|image| {
            let annotations = json!({REF_NAME_ANNOTATION: image.name, CONTAINERD_NAME_ANNOTATION: image.name});
            match &image.oci_index {
                Some(index) => json!({"mediaType": OCI_INDEX_MEDIA_TYPE, "digest": index.to_string(), "size": blob_sizes(index), "annotations": annotations}),
                None => json!({
                    "mediaType": image.media_type,
                    "digest": image.digest.to_string(),
                    "size": blob_sizes(&image.digest),
                    "platform": platform_json(image),
                    "annotations": annotations,
                }),
            }
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE, "manifests": manifests});
    // A Value of strings and numbers always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&index).expect("index serialises")
}

/// The parts of an image manifest (OCI or Docker schema 2) an importer reads: its config and
/// layers, bottom first.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ManifestJson {
    /// The image config.
    pub config: DescriptorJson,
    /// The layers, bottom first.
    pub layers: Vec<DescriptorJson>,
}

/// A content descriptor, as manifests spell it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescriptorJson {
    /// Media type.
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: i64,
}

/// The part of an image config an importer reads.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ConfigJson {
    /// The uncompressed layers.
    pub rootfs: RootFsJson,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RootFsJson {
    /// sha256 of each uncompressed layer, bottom first.
    pub diff_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Platform;

    #[test]
    fn index_json_is_sorted_and_names_every_image_twice() {
        let d = Digest::of(b"m");
        let image = Image {
            name: "registry.k8s.io/pause:3.10".into(),
            component: "pause".into(),
            digest: d,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: Platform { os: "linux".into(), architecture: "arm64".into(), variant: Some("v8".into()) },
            index_digest: None,
            oci_index: None,
            config: d,
            layers: vec![],
            size: 1,
        };
        let bytes = index_json_bytes(&[image], |_| 42);
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            format!(
                r#"{{"manifests":[{{"annotations":{{"io.containerd.image.name":"registry.k8s.io/pause:3.10","org.opencontainers.image.ref.name":"registry.k8s.io/pause:3.10"}},"digest":"{d}","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}},"size":42}}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}}"#
            )
        );
    }
}
