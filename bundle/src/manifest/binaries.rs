//! The manifest's `binaries` section (schema 2): the node's own programs (kubelet, kubectl,
//! kubeadm, crictl, the CNI plugins, airadm), each a plain entry of the bundle, with where it came
//! from and the published checksum it was checked against when the bundle was built.

use serde::{Deserialize, Serialize};

use super::{Manifest, ManifestError, hex_digest};
use crate::digest::Digest;
use crate::entry_path::EntryPath;

/// Directory of the node binaries inside a bundle (installed to `/usr/local/bin` or `--bin-dir`).
pub const BIN_DIR: &str = "bin/";
/// Directory of the CNI plugins inside a bundle (installed to `/opt/cni/bin`).
pub const CNI_BIN_DIR: &str = "cni/bin/";

/// What a binary is, which decides where it lives in the bundle and on the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BinaryKind {
    /// `kubelet`, `kubectl`, `kubeadm`: Kubernetes release binaries.
    Kubernetes,
    /// `crictl`, from a cri-tools release archive.
    Crictl,
    /// A CNI reference plugin, from the plugins' release archive.
    CniPlugin,
    /// The `airadm` installer itself, given to the builder as a file.
    Airadm,
}

impl BinaryKind {
    /// The bundle directory of this kind.
    pub fn dir(self) -> &'static str {
        match self {
            Self::CniPlugin => CNI_BIN_DIR,
            _ => BIN_DIR,
        }
    }
}

/// One binary the bundle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Binary {
    /// File name on the node (`kubelet`, `bridge`).
    pub name: String,
    /// What it is.
    pub kind: BinaryKind,
    /// Its release version (`v1.34.4`, `v1.7.1`); absent for a given `airadm` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `linux`.
    pub os: String,
    /// Go architecture name, the bundle's.
    pub arch: String,
    /// Its entry: `bin/NAME` or `cni/bin/NAME`.
    pub path: EntryPath,
    /// sha256 of the file, as its entry lists it.
    #[serde(with = "hex_digest")]
    pub sha256: Digest,
    /// Where it was downloaded from; absent for a file given to the builder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<BinarySource>,
}

/// A download and the checksums it was verified against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BinarySource {
    /// The upstream URL of the file, or of the archive it was unpacked from.
    pub url: String,
    /// sha256 of what was downloaded.
    #[serde(with = "hex_digest")]
    pub sha256: Digest,
    /// The member of the archive, when the binary was unpacked from one (`./bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The published checksum files the download matched.
    pub checksums: Vec<PublishedChecksum>,
}

/// One published checksum file (`kubelet.sha256`, `….tar.gz.sha256`) and the value it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedChecksum {
    /// `sha256` or `sha512`.
    pub algorithm: String,
    /// Where it was read.
    pub url: String,
    /// The hex digest it gave.
    pub value: String,
}

impl Binary {
    /// The entry path a binary of `kind` named `name` has.
    pub fn entry_path(kind: BinaryKind, name: &str) -> Result<EntryPath, ManifestError> {
        if !plain_name(name) {
            return Err(ManifestError::Binary { name: name.to_owned(), reason: "is not a plain file name".into() });
        }
        EntryPath::new(&format!("{}{name}", kind.dir()))
            .map_err(|e| ManifestError::Binary { name: name.to_owned(), reason: format!("has no valid entry path: {e}") })
    }
}

/// `[A-Za-z0-9._-]+`, not `.` or `..`.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks the section: each binary of the bundle's os and arch, at its kind's path, once, and
/// listed among the entries with the same sha256.
pub(super) fn check(manifest: &Manifest) -> Result<(), ManifestError> {
    let (os, arch) = (&manifest.os, &manifest.arch);
    let mut seen = std::collections::BTreeSet::new();
    for binary in &manifest.binaries {
        let bad = |reason: String| ManifestError::Binary { name: binary.name.clone(), reason };
        if binary.path != Binary::entry_path(binary.kind, &binary.name)? {
            return Err(bad(format!("has path `{}`, not `{}{}`", binary.path, binary.kind.dir(), binary.name)));
        }
        if binary.os != *os || binary.arch != *arch {
            return Err(bad(format!("is for {}/{}, the bundle for {os}/{arch}", binary.os, binary.arch)));
        }
        if !seen.insert(binary.path.clone()) {
            return Err(bad("is listed twice".into()));
        }
        match manifest.entry(&binary.path) {
            Some(entry) if entry.sha256 == binary.sha256 => {}
            Some(_) => return Err(bad(format!("has another sha256 than its entry `{}`", binary.path))),
            None => return Err(bad(format!("has no entry `{}`", binary.path))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_only() {
        for good in ["kubelet", "host-local", "crictl", "a.b_c"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "k\u{e9}"] {
            assert!(!plain_name(bad), "{bad}");
        }
        assert_eq!(Binary::entry_path(BinaryKind::CniPlugin, "bridge").unwrap().as_str(), "cni/bin/bridge");
        assert_eq!(Binary::entry_path(BinaryKind::Kubernetes, "kubelet").unwrap().as_str(), "bin/kubelet");
    }
}
