//! The node's own binaries a bundle carries: what to download for a version and architecture
//! (pure), and where from — upstream, a mirror of the same layout (`--binaries-mirror`) or a local
//! tree of it (`--binaries-dir`). `fetch` downloads and checks them, `unpack` turns the release
//! archives into plain files, all in the blob cache.

mod elf;
mod fetch;
mod unpack;

pub use fetch::{FetchError, fetch_all};

use std::path::PathBuf;

use bundle::manifest::BinaryKind;

use crate::catalog::NodeBinaryVersions;

/// Kubernetes' release downloads: `release/vX.Y.Z/bin/linux/ARCH/NAME`.
pub const KUBERNETES_HOST: &str = "https://dl.k8s.io";
/// GitHub release downloads of cri-tools and the CNI plugins.
pub const GITHUB_HOST: &str = "https://github.com";
/// The Kubernetes release binaries a node needs.
pub const KUBERNETES_BINARIES: &[&str] = &["kubeadm", "kubectl", "kubelet"];
/// The CNI plugins every bundle must carry (a bridge network on one node, and between nodes).
pub const REQUIRED_CNI_PLUGINS: &[&str] = &["bridge", "host-local", "loopback", "portmap"];

/// A published checksum file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `.sha256`.
    Sha256,
    /// `.sha512`.
    Sha512,
}

impl Algorithm {
    /// `sha256`, `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// What a download holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The binary itself, installed under this name.
    File(String),
    /// A `.tar.gz` whose executables are the binaries; these must be among them.
    Archive {
        /// Names that must be present.
        required: &'static [&'static str],
    },
}

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// What its binaries are.
    pub kind: BinaryKind,
    /// Their release version.
    pub version: String,
    /// The upstream URL (recorded in the manifest whatever the source).
    pub url: String,
    /// The checksum files published beside it (`URL.sha256`, …).
    pub checksums: &'static [Algorithm],
    /// File or archive.
    pub payload: Payload,
}

/// The downloads of one architecture, in a fixed order.
pub fn plan(kubernetes_version: &str, versions: &NodeBinaryVersions, arch: &str) -> Vec<Download> {
    let mut downloads: Vec<Download> = KUBERNETES_BINARIES
        .iter()
        .map(|name| Download {
            kind: BinaryKind::Kubernetes,
            version: kubernetes_version.to_owned(),
            url: format!("{KUBERNETES_HOST}/release/{kubernetes_version}/bin/linux/{arch}/{name}"),
            checksums: &[Algorithm::Sha256, Algorithm::Sha512],
            payload: Payload::File((*name).to_owned()),
        })
        .collect();
    let crictl = &versions.crictl;
    downloads.push(Download {
        kind: BinaryKind::Crictl,
        version: crictl.clone(),
        url: format!("{GITHUB_HOST}/kubernetes-sigs/cri-tools/releases/download/{crictl}/crictl-{crictl}-linux-{arch}.tar.gz"),
        checksums: &[Algorithm::Sha256],
        payload: Payload::Archive { required: &["crictl"] },
    });
    let cni = &versions.cni;
    downloads.push(Download {
        kind: BinaryKind::CniPlugin,
        version: cni.clone(),
        url: format!("{GITHUB_HOST}/containernetworking/plugins/releases/download/{cni}/cni-plugins-linux-{arch}-{cni}.tgz"),
        checksums: &[Algorithm::Sha256],
        payload: Payload::Archive { required: REQUIRED_CNI_PLUGINS },
    });
    downloads
}

/// Where the downloads come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sources {
    /// dl.k8s.io and github.com.
    #[default]
    Upstream,
    /// `--binaries-mirror URL`: the same paths below another base URL.
    Mirror(String),
    /// `--binaries-dir DIR`: the same paths below a local directory.
    Dir(PathBuf),
}

/// Where one URL is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Over HTTP(S).
    Http(String),
    /// A local file.
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(url) => f.write_str(url),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Sources {
    /// Where the upstream `url` is read: the mirror or directory keeps the path after the host.
    pub fn locate(&self, url: &str) -> Location {
        let path = [KUBERNETES_HOST, GITHUB_HOST].iter().find_map(|host| url.strip_prefix(host)).unwrap_or(url);
        match self {
            Self::Upstream => Location::Http(url.to_owned()),
            Self::Mirror(base) => Location::Http(format!("{}{path}", base.trim_end_matches('/'))),
            Self::Dir(dir) => Location::File(dir.join(path.trim_start_matches('/'))),
        }
    }
}

/// The value of a published checksum file: its first word, `algorithm`'s length of hex digits
/// (dl.k8s.io files hold only that; GitHub release files add two spaces and the file name, which
/// must then be the downloaded file's).
pub fn parse_checksum(text: &str, algorithm: Algorithm, file_name: &str) -> Result<String, String> {
    let mut words = text.split_whitespace();
    let value = words.next().ok_or("is empty")?.to_ascii_lowercase();
    if value.len() != algorithm.hex_len() || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("does not start with a {} hex digest", algorithm.name()));
    }
    if let Some(name) = words.next()
        && name.trim_start_matches('*').rsplit('/').next() != Some(file_name)
    {
        return Err(format!("is for `{name}`, not `{file_name}`"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> NodeBinaryVersions {
        serde_saphyr::from_str("{crictl: v1.34.0, cni: v1.7.1, source: s}").unwrap()
    }

    #[test]
    fn plans_the_upstream_release_layouts() {
        let urls: Vec<String> = plan("v1.34.4", &versions(), "arm64").into_iter().map(|d| d.url).collect();
        assert_eq!(
            urls,
            [
                "https://dl.k8s.io/release/v1.34.4/bin/linux/arm64/kubeadm",
                "https://dl.k8s.io/release/v1.34.4/bin/linux/arm64/kubectl",
                "https://dl.k8s.io/release/v1.34.4/bin/linux/arm64/kubelet",
                "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.34.0/crictl-v1.34.0-linux-arm64.tar.gz",
                "https://github.com/containernetworking/plugins/releases/download/v1.7.1/cni-plugins-linux-arm64-v1.7.1.tgz",
            ]
        );
    }

    #[test]
    fn mirrors_and_directories_keep_the_path() {
        let url = "https://github.com/containernetworking/plugins/releases/download/v1.7.1/x.tgz";
        assert_eq!(Sources::Upstream.locate(url), Location::Http(url.into()));
        assert_eq!(
            Sources::Mirror("http://127.0.0.1:8080/m/".into()).locate(url),
            Location::Http("http://127.0.0.1:8080/m/containernetworking/plugins/releases/download/v1.7.1/x.tgz".into())
        );
        assert_eq!(
            Sources::Dir("/srv".into()).locate("https://dl.k8s.io/release/v1.34.4/bin/linux/amd64/kubelet"),
            Location::File("/srv/release/v1.34.4/bin/linux/amd64/kubelet".into())
        );
    }

    #[test]
    fn checksum_files_of_both_layouts_parse() {
        let hex = "a".repeat(64);
        assert_eq!(parse_checksum(&format!("{hex}\n"), Algorithm::Sha256, "kubelet").unwrap(), hex);
        assert_eq!(parse_checksum(&format!("{hex}  x.tgz\n"), Algorithm::Sha256, "x.tgz").unwrap(), hex);
        assert!(parse_checksum(&format!("{hex}  y.tgz\n"), Algorithm::Sha256, "x.tgz").unwrap_err().contains("`y.tgz`"));
        assert!(parse_checksum("", Algorithm::Sha256, "x").is_err());
        assert!(parse_checksum(&hex, Algorithm::Sha512, "x").unwrap_err().contains("sha512"));
        assert!(parse_checksum("<html>not found</html>", Algorithm::Sha256, "x").is_err());
    }
}
