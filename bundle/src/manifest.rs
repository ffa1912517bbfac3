//! `airbundle.json`: the signed table of contents every other byte of a bundle is checked against.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::entry_path::EntryPath;

pub mod binaries;
pub use binaries::{Binary, BinaryKind, BinarySource, PublishedChecksum};

/// The schema version this code writes and the newest it reads (2 added `binaries`).
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema version this code reads.
pub const MIN_SCHEMA_VERSION: u32 = 1;
/// Path of the first entry.
pub const MANIFEST_PATH: &str = "airbundle.json";
/// Path of the second entry: minisign signature of the first.
pub const SIGNATURE_PATH: &str = "airbundle.json.minisig";
/// Largest manifest a reader accepts (a bundle with hundreds of images stays far below it).
pub const MAX_MANIFEST_SIZE: u64 = 16 << 20;
/// Largest manifest signature a reader accepts.
pub const MAX_SIGNATURE_SIZE: u64 = 4096;

/// The bundle manifest (`airbundle.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Format version; readers refuse newer ones.
    pub schema_version: u32,
    /// Kubernetes version the bundle is for, with its `v` (`v1.31.2`).
    pub kubernetes_version: String,
    /// Always `linux`.
    pub os: String,
    /// Go-style architecture name (`amd64`, `arm64`, …).
    pub arch: String,
    /// The image repository the cluster names its images under (kubeadm's `imageRepository`).
    pub image_repository: String,
    /// Who built it.
    pub builder: BuilderInfo,
    /// RFC 3339 creation time, from `SOURCE_DATE_EPOCH` (the Unix epoch when unset).
    pub created: String,
    /// The images, in `kubeadm config images list` order, then extra images.
    pub images: Vec<Image>,
    /// The node's binaries (schema 2), sorted by path; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binaries: Vec<Binary>,
    /// Every entry after the first two, sorted by path.
    pub entries: Vec<Entry>,
}

/// The program and version that wrote the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BuilderInfo {
    /// `airbundle`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// One image, resolved to a single platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// The reference as the cluster names it (`registry.k8s.io/kube-apiserver:v1.31.2`).
    pub name: String,
    /// What kubeadm uses it for (`kube-apiserver`, `etcd`, `coredns`, `pause`, …; `extra` otherwise).
    pub component: String,
    /// Digest of the platform-specific image manifest.
    pub digest: Digest,
    /// Media type of that manifest (OCI or Docker schema 2).
    pub media_type: String,
    /// The platform the manifest is for.
    pub platform: Platform,
    /// Digest of the multi-platform index it was selected from, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    /// For a Docker schema 2 manifest: the one-entry OCI index the bundle wraps it in, which
    /// `oci/index.json` points to (OCI layout readers such as skopeo only follow OCI types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_index: Option<Digest>,
    /// Digest of the image config blob.
    pub config: Digest,
    /// Digests of the layer blobs, bottom first.
    pub layers: Vec<Digest>,
    /// Manifest + config + layers, in bytes.
    pub size: u64,
}

/// An OCI platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8` and friends, when the registry gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// One archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Where it lives in the archive.
    pub path: EntryPath,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, 64 hex digits.
    #[serde(with = "hex_digest")]
    pub sha256: Digest,
}

/// A manifest that does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("`{MANIFEST_PATH}` is not a valid bundle manifest")]
    Parse(#[source] serde_json::Error),
    /// Written by a newer airbundle, or not a schema version at all.
    #[error(
        "`{MANIFEST_PATH}` has schema version {0}, this program reads {MIN_SCHEMA_VERSION} to {SCHEMA_VERSION}: upgrade airadm (or rebuild the bundle)"
    )]
    UnsupportedSchema(u32),
    /// A binary of the `binaries` section that does not hold together.
    #[error("`{MANIFEST_PATH}`: binary `{name}` {reason}")]
    Binary {
        /// Its name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Entries out of order, repeated or naming the first two entries.
    #[error("`{MANIFEST_PATH}` lists entry `{0}` out of order, twice, or in place of the manifest or its signature")]
    EntryOrder(EntryPath),
    /// A blob entry whose name is not its digest.
    #[error("`{MANIFEST_PATH}` lists blob `{0}` whose name is not its sha256")]
    BlobName(EntryPath),
    /// An image pointing at a blob the bundle does not carry.
    #[error("`{MANIFEST_PATH}`: image `{image}` needs blob {digest}, which is not in the bundle")]
    MissingBlob {
        /// The image.
        image: String,
        /// The blob.
        digest: Digest,
    },
}

impl Manifest {
    /// Parses and checks a manifest's internal consistency.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        let schema: SchemaProbe = serde_json::from_slice(bytes).map_err(ManifestError::Parse)?;
        if !(MIN_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&schema.schema_version) {
            return Err(ManifestError::UnsupportedSchema(schema.schema_version));
        }
        let manifest: Self = serde_json::from_slice(bytes).map_err(ManifestError::Parse)?;
        manifest.check()?;
        Ok(manifest)
    }

    /// The canonical bytes: pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs, strings and numbers cannot fail.
        #[allow(clippy::expect_used)]
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// Checks entry order, blob names, that every image's blobs are present, and the binaries.
    pub fn check(&self) -> Result<(), ManifestError> {
        if self.schema_version < 2 && !self.binaries.is_empty() {
            return Err(ManifestError::Binary {
                name: self.binaries[0].name.clone(),
                reason: format!("is listed by a schema {} manifest, which has no binaries", self.schema_version),
            });
        }
        let mut previous: Option<&EntryPath> = None;
        for entry in &self.entries {
            let reserved = [MANIFEST_PATH, SIGNATURE_PATH].contains(&entry.path.as_str());
            if reserved || previous.is_some_and(|p| p >= &entry.path) {
                return Err(ManifestError::EntryOrder(entry.path.clone()));
            }
            if let Some(hex) = entry.path.as_str().strip_prefix(crate::oci_layout::BLOBS_DIR)
                && hex != entry.sha256.hex()
            {
                return Err(ManifestError::BlobName(entry.path.clone()));
            }
            previous = Some(&entry.path);
        }
        let blobs: BTreeSet<String> = self.entries.iter().map(|e| e.path.as_str().to_owned()).collect();
        for image in &self.images {
            for digest in std::iter::once(&image.digest).chain([&image.config]).chain(&image.layers).chain(&image.oci_index) {
                if !blobs.contains(crate::oci_layout::blob_path(digest).as_str()) {
                    return Err(ManifestError::MissingBlob { image: image.name.clone(), digest: *digest });
                }
            }
        }
        binaries::check(self)
    }

    /// The entry at `path`, if the manifest lists it.
    pub fn entry(&self, path: &EntryPath) -> Option<&Entry> {
        self.entries.binary_search_by(|e| e.path.cmp(path)).ok().map(|i| &self.entries[i])
    }

    /// The file name the builder gives this bundle: `kubernetes-v1.31.2-linux-amd64.tar.zst`.
    pub fn file_name(&self) -> String {
        file_name(&self.kubernetes_version, &self.arch)
    }

    /// The trusted comment of the detached signature of the whole bundle file (`.minisig`).
    pub fn file_trusted_comment(&self) -> String {
        format!("airbundle file={} kubernetes={} arch={}", self.file_name(), self.kubernetes_version, self.arch)
    }

    /// The trusted comment signed together with the manifest.
    pub fn trusted_comment(&self) -> String {
        format!(
            "airbundle manifest kubernetes={} os={} arch={} schema={}",
            self.kubernetes_version, self.os, self.arch, self.schema_version
        )
    }
}

/// `kubernetes-<version>-linux-<arch>.tar.zst`.
pub fn file_name(kubernetes_version: &str, arch: &str) -> String {
    format!("kubernetes-{kubernetes_version}-linux-{arch}.tar.zst")
}

/// `1970-01-01T00:00:00Z` style, from Unix seconds (civil-from-days, H. Hinnant).
pub fn rfc3339(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaProbe {
    schema_version: u32,
}

mod hex_digest {
    use crate::digest::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.hex())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
