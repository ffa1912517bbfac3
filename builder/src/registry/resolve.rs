//! Resolving a reference to one platform's image: an index narrowed to its `linux/<arch>`
//! manifest, or a single-platform manifest checked against its config; schema 1 refused.

use bundle::{Digest, Platform};
use oci_client::Reference;
use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
use serde::Deserialize;

use super::{BlobRef, PullError, Registry, ResolvedImage, unsupported};
use crate::cache::BlobCache;

impl Registry {
    /// Resolves `reference` to its `linux/<arch>` manifest.
    pub async fn resolve(&self, reference: &Reference, arch: &str, cache: &BlobCache) -> Result<ResolvedImage, PullError> {
        let (bytes, digest) = self.manifest(reference).await?;
        let raw = RawManifest::parse(reference, &bytes)?;
        if let Some(entries) = raw.manifests {
            let entry = select_platform(reference, &entries, arch)?;
            let child = reference.clone_with_digest(entry.digest.to_string());
            let (bytes, child_digest) = self.manifest(&child).await?;
            let platform = entry.platform.clone().map(RawPlatform::into_platform).unwrap_or_else(|| linux(arch));
            return self.image(&child, bytes, child_digest, platform, Some(digest));
        }
        let config = raw.config.as_ref().ok_or_else(|| unsupported(reference, "manifest has no config"))?;
        let config_bytes = self.small_blob(reference, &config.blob()).await?;
        let platform = RawPlatform::from_config(reference, &config_bytes)?;
        if platform.os != "linux" || platform.architecture != arch {
            return Err(PullError::WrongPlatform {
                image: reference.whole(),
                arch: arch.to_owned(),
                found: format!("{}/{}", platform.os, platform.architecture),
            });
        }
        cache.store_bytes(&config.digest, &config_bytes).map_err(PullError::Cache)?;
        self.image(reference, bytes, digest, platform, None)
    }

    fn image(
        &self,
        reference: &Reference,
        manifest: bytes::Bytes,
        digest: Digest,
        platform: Platform,
        index_digest: Option<Digest>,
    ) -> Result<ResolvedImage, PullError> {
        let raw = RawManifest::parse(reference, &manifest)?;
        let (Some(config), Some(layers)) = (raw.config, raw.layers) else {
            return Err(unsupported(reference, "platform entry is not an image manifest"));
        };
        Ok(ResolvedImage {
            source: reference.clone(),
            media_type: raw.media_type.unwrap_or_else(|| OCI_IMAGE_MEDIA_TYPE.to_owned()),
            manifest,
            digest,
            platform,
            index_digest,
            config: config.blob(),
            layers: layers.iter().map(RawDescriptor::blob).collect(),
        })
    }
}

fn linux(arch: &str) -> Platform {
    Platform { os: "linux".into(), architecture: arch.to_owned(), variant: None }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    media_type: Option<String>,
    manifests: Option<Vec<RawDescriptor>>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
}

impl RawManifest {
    fn parse(reference: &Reference, bytes: &[u8]) -> Result<Self, PullError> {
        let raw: Self = serde_json::from_slice(bytes).map_err(|e| unsupported(reference, &format!("manifest is not valid JSON: {e}")))?;
        if raw.schema_version != 2 {
            return Err(unsupported(reference, "Docker schema 1 manifests are not supported: push the image with a current tool"));
        }
        Ok(raw)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: Digest,
    size: u64,
    platform: Option<RawPlatform>,
}

impl RawDescriptor {
    fn blob(&self) -> BlobRef {
        BlobRef { digest: self.digest, size: self.size, media_type: self.media_type.clone() }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl RawPlatform {
    fn into_platform(self) -> Platform {
        Platform { os: self.os, architecture: self.architecture, variant: self.variant }
    }

    fn from_config(reference: &Reference, config: &[u8]) -> Result<Platform, PullError> {
        let raw: Self =
            serde_json::from_slice(config).map_err(|e| unsupported(reference, &format!("image config has no platform: {e}")))?;
        Ok(raw.into_platform())
    }
}

/// Picks the `linux/<arch>` entry of an index (for arm64, `v8` or no variant first).
fn select_platform<'a>(reference: &Reference, entries: &'a [RawDescriptor], arch: &str) -> Result<&'a RawDescriptor, PullError> {
    let matching: Vec<&RawDescriptor> =
        entries.iter().filter(|e| e.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch)).collect();
    let preferred = matching.iter().find(|e| {
        let variant = e.platform.as_ref().and_then(|p| p.variant.as_deref());
        match arch {
            "arm64" => matches!(variant, None | Some("v8")),
            "arm" => matches!(variant, Some("v7")),
            _ => true,
        }
    });
    preferred.or(matching.first()).copied().ok_or_else(|| PullError::NoPlatform {
        image: reference.whole(),
        arch: arch.to_owned(),
        available: entries
            .iter()
            .filter_map(|e| e.platform.as_ref())
            .map(|p| format!("{}/{}{}", p.os, p.architecture, p.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, n: u8) -> RawDescriptor {
        RawDescriptor {
            media_type: OCI_IMAGE_MEDIA_TYPE.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(RawPlatform { os: "linux".into(), architecture: arch.into(), variant: variant.map(Into::into) }),
        }
    }

    #[test]
    fn selects_the_requested_platform() {
        let r: Reference = "r.example/x:1".parse().unwrap();
        let entries = [entry("amd64", None, 1), entry("arm", Some("v6"), 2), entry("arm", Some("v7"), 3), entry("arm64", Some("v8"), 4)];
        assert_eq!(select_platform(&r, &entries, "amd64").unwrap().digest, Digest::of(&[1]));
        assert_eq!(select_platform(&r, &entries, "arm").unwrap().digest, Digest::of(&[3]));
        assert_eq!(select_platform(&r, &entries, "arm64").unwrap().digest, Digest::of(&[4]));
        let err = select_platform(&r, &entries, "s390x").unwrap_err().to_string();
        assert!(err.contains("linux/s390x") && err.contains("linux/arm/v7"), "{err}");
    }
}
