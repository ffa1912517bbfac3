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

/// Contents of `oci/index.json`: one descriptor per image, named with both annotations.
///
/// Built through `serde_json::Value`, whose maps are sorted, so the bytes do not depend on
/// hash-map iteration order (oci-spec's annotation maps are `HashMap`s).
pub fn index_json_bytes(images: &[Image], manifest_sizes: impl Fn(&Digest) -> u64) -> Vec<u8> {
    let manifests: Vec<Value> = images
        .iter()
        .map(|image| {
            let mut platform = json!({"os": image.platform.os, "architecture": image.platform.architecture});
            if let Some(variant) = &image.platform.variant {
                platform["variant"] = json!(variant);
            }
            json!({
                "mediaType": image.media_type,
                "digest": image.digest.to_string(),
                "size": manifest_sizes(&image.digest),
                "platform": platform,
                "annotations": {
                    REF_NAME_ANNOTATION: image.name,
                    CONTAINERD_NAME_ANNOTATION: image.name,
                },
            })
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX_MEDIA_TYPE, "manifests": manifests});
    // A Value of strings and numbers always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&index).expect("index serialises")
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
