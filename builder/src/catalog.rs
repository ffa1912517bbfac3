//! The version catalog: which images kubeadm of a given Kubernetes release uses.
//!
//! Data lives in `manifests/versions/*.yaml` (embedded at compile time); this module parses it
//! and reproduces kubeadm's image naming (cmd/kubeadm/app/images/images.go): control-plane images
//! tagged with the Kubernetes version, CoreDNS under `coredns/coredns` only for the default
//! repository, and kubeadm's `config images list` order.

use std::fmt;

use serde::Deserialize;

include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));

/// kubeadm's default image repository (`DefaultImageRepository`).
pub const DEFAULT_IMAGE_REPOSITORY: &str = "registry.k8s.io";

/// A catalog problem or a version it does not cover.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Not `vMAJOR.MINOR.PATCH`.
    #[error("--kubernetes-version `{0}` is not a Kubernetes version like v1.31.2")]
    BadVersion(String),
    /// No catalog file for it.
    #[error("Kubernetes version {version} is not in the catalog: supported are {supported}")]
    Unsupported {
        /// What was asked.
        version: String,
        /// What there is.
        supported: String,
    },
    /// A catalog file does not parse (a build defect).
    #[error("catalog file manifests/versions/{file} is malformed: {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// A Kubernetes release version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesVersion {
    major: u32,
    minor: u32,
    patch: u32,
    pre: Option<String>,
}

impl KubernetesVersion {
    /// Parses `v1.31.2`, `1.31.2` or `v1.32.0-rc.1`.
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let bad = || CatalogError::BadVersion(text.to_owned());
        let rest = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_owned())),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let parts: Vec<u32> = core.split('.').map(|p| p.parse().map_err(|_| bad())).collect::<Result<_, _>>()?;
        let [major, minor, patch] = parts[..] else { return Err(bad()) };
        Ok(Self { major, minor, patch, pre })
    }

    /// `v1.31`.
    pub fn minor_name(&self) -> String {
        format!("v{}.{}", self.major, self.minor)
    }

    /// The image tag kubeadm uses (`KubernetesVersionToImageTag`: `+` becomes `_`).
    pub fn image_tag(&self) -> String {
        self.to_string().replace('+', "_")
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        match &self.pre {
            Some(pre) => write!(f, "-{pre}"),
            None => Ok(()),
        }
    }
}

/// Per-build overrides of the catalog, like kubeadm's `imageTag` fields.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--etcd-version`.
    pub etcd: Option<String>,
    /// `--coredns-version`.
    pub coredns: Option<String>,
    /// `--pause-version`.
    pub pause: Option<String>,
}

/// One image of the set kubeadm needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogImage {
    /// `kube-apiserver`, `coredns`, `etcd`, …
    pub component: &'static str,
    /// The image repository it lives under (`registry.k8s.io` or `registry.k8s.io/coredns`).
    pub repository: String,
    /// Image name below the repository (`kube-apiserver`, `coredns`).
    pub image: &'static str,
    /// Tag.
    pub tag: String,
}

impl CatalogImage {
    /// The reference as kubeadm and the cluster name it.
    pub fn reference(&self) -> String {
        format!("{}/{}:{}", self.repository, self.image, self.tag)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MinorFile {
    minor: String,
    image_repository: String,
    binaries: NodeBinaryVersions,
    ranges: Vec<PatchRange>,
}

/// The versions of the node binaries that do not carry the Kubernetes version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeBinaryVersions {
    /// cri-tools release (`v1.34.0`).
    pub crictl: String,
    /// CNI reference plugins release (`v1.7.1`).
    pub cni: String,
    #[allow(dead_code)] // documentation for humans
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRange {
    from: String,
    etcd: String,
    coredns: String,
    pause: String,
    #[allow(dead_code)] // documentation for humans
    source: String,
}

/// The embedded catalog.
pub struct Catalog {
    minors: Vec<(KubernetesVersion, MinorFile)>,
}

impl Catalog {
    /// Parses the embedded catalog files.
    pub fn embedded() -> Result<Self, CatalogError> {
        Self::from_files(FILES)
    }

    fn from_files(files: &[(&str, &str)]) -> Result<Self, CatalogError> {
        let mut minors = Vec::new();
        for (name, text) in files {
            let malformed = |reason: String| CatalogError::Malformed { file: (*name).to_owned(), reason };
            let file: MinorFile = serde_saphyr::from_str(text).map_err(|e| malformed(e.to_string()))?;
            let minor = KubernetesVersion::parse(&format!("{}.0", file.minor)).map_err(|e| malformed(e.to_string()))?;
            let mut previous = None;
            for range in &file.ranges {
                let from = KubernetesVersion::parse(&range.from).map_err(|e| malformed(e.to_string()))?;
                if from.minor_name() != file.minor || previous.is_some_and(|p| p >= from.patch) {
                    return Err(malformed(format!("range `{}` is out of order or outside {}", range.from, file.minor)));
                }
                previous = Some(from.patch);
            }
            if file.ranges.first().map(|r| r.from.as_str()) != Some(&format!("{}.0", file.minor)) {
                return Err(malformed(format!("the first range must start at {}.0", file.minor)));
            }
            minors.push((minor, file));
        }
        minors.sort_by_key(|(v, _)| (v.major, v.minor));
        Ok(Self { minors })
    }

    /// The supported minors, for messages: `v1.31.x, v1.32.x, …`.
    pub fn supported(&self) -> String {
        self.minors.iter().map(|(v, _)| format!("{}.x", v.minor_name())).collect::<Vec<_>>().join(", ")
    }

    /// The crictl and CNI plugin versions paired with `version`'s minor.
    pub fn binary_versions(&self, version: &KubernetesVersion) -> Result<NodeBinaryVersions, CatalogError> {
        self.minor(version).map(|file| file.binaries.clone())
    }

    fn minor(&self, version: &KubernetesVersion) -> Result<&MinorFile, CatalogError> {
        self.minors
            .iter()
            .find(|(v, _)| v.major == version.major && v.minor == version.minor)
            .map(|(_, file)| file)
            .ok_or_else(|| CatalogError::Unsupported { version: version.to_string(), supported: self.supported() })
    }

    /// kubeadm's image list for `version`, in `kubeadm config images list` order:
    /// kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, coredns, pause, etcd.
    pub fn images(
        &self,
        version: &KubernetesVersion,
        image_repository: Option<&str>,
        overrides: &Overrides,
    ) -> Result<Vec<CatalogImage>, CatalogError> {
        let file = self.minor(version)?;
        let range = file
            .ranges
            .iter()
            .rev()
            .find(|r| KubernetesVersion::parse(&r.from).is_ok_and(|f| f.patch <= version.patch))
            .ok_or_else(|| CatalogError::Unsupported { version: version.to_string(), supported: self.supported() })?;
        let repository = image_repository.unwrap_or(&file.image_repository).trim_end_matches('/').to_owned();
        let pick = |over: &Option<String>, default: &str| over.clone().unwrap_or_else(|| default.to_owned());
        let control_plane = |component: &'static str| CatalogImage {
            component,
            repository: repository.clone(),
            image: component,
            tag: version.image_tag(),
        };
        Ok(vec![
            control_plane("kube-apiserver"),
            control_plane("kube-controller-manager"),
            control_plane("kube-scheduler"),
            control_plane("kube-proxy"),
            CatalogImage {
                component: "coredns",
                repository: coredns_repository(&repository),
                image: "coredns",
                tag: pick(&overrides.coredns, &range.coredns),
            },
            CatalogImage { component: "pause", repository: repository.clone(), image: "pause", tag: pick(&overrides.pause, &range.pause) },
            CatalogImage { component: "etcd", repository, image: "etcd", tag: pick(&overrides.etcd, &range.etcd) },
        ])
    }
}

/// kubeadm's `GetDNSImage`: the official repository keeps CoreDNS under `coredns/`
/// ("Handle the renaming of the official image"); any other repository holds it at the top.
fn coredns_repository(repository: &str) -> String {
    if repository == DEFAULT_IMAGE_REPOSITORY { format!("{repository}/coredns") } else { repository.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(version: &str, repo: Option<&str>) -> Vec<String> {
        let v = KubernetesVersion::parse(version).unwrap();
        Catalog::embedded().unwrap().images(&v, repo, &Overrides::default()).unwrap().iter().map(CatalogImage::reference).collect()
    }

    #[test]
    fn v1_31_2_matches_kubeadm_config_images_list() {
        assert_eq!(
            list("v1.31.2", None),
            [
                "registry.k8s.io/kube-apiserver:v1.31.2",
                "registry.k8s.io/kube-controller-manager:v1.31.2",
                "registry.k8s.io/kube-scheduler:v1.31.2",
                "registry.k8s.io/kube-proxy:v1.31.2",
                "registry.k8s.io/coredns/coredns:v1.11.3",
                "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.15-0",
            ]
        );
    }

    #[test]
    fn patch_ranges_select_the_values_of_that_patch() {
        assert_eq!(list("v1.31.0", None)[4], "registry.k8s.io/coredns/coredns:v1.11.1");
        assert_eq!(list("v1.31.13", None)[6], "registry.k8s.io/etcd:3.5.15-0");
        assert_eq!(list("v1.31.14", None)[6], "registry.k8s.io/etcd:3.5.24-0");
        assert_eq!(list("1.32.9", None)[6], "registry.k8s.io/etcd:3.5.16-0");
        assert_eq!(list("v1.32.10", None)[6], "registry.k8s.io/etcd:3.5.24-0");
    }

    #[test]
    fn every_minor_from_1_31_to_1_37_is_covered() {
        for minor in 31..=37 {
            assert_eq!(list(&format!("v1.{minor}.0"), None).len(), 7);
        }
    }

    #[test]
    fn custom_repository_keeps_coredns_at_the_top_like_kubeadm() {
        // kubeadm images_test.go TestGetDNSImage: "foo.io" -> "foo.io/coredns:<ver>".
        let images = list("v1.33.1", Some("foo.io"));
        assert_eq!(images[0], "foo.io/kube-apiserver:v1.33.1");
        assert_eq!(images[4], "foo.io/coredns:v1.12.0");
        assert_eq!(images[5], "foo.io/pause:3.10");
    }

    #[test]
    fn overrides_replace_catalog_tags() {
        let v = KubernetesVersion::parse("v1.34.2").unwrap();
        let o = Overrides { etcd: Some("3.6.5-0".into()), coredns: Some("v1.12.4".into()), pause: Some("3.10.2".into()) };
        let refs: Vec<String> = Catalog::embedded().unwrap().images(&v, None, &o).unwrap().iter().map(CatalogImage::reference).collect();
        assert_eq!(refs[4..], ["registry.k8s.io/coredns/coredns:v1.12.4", "registry.k8s.io/pause:3.10.2", "registry.k8s.io/etcd:3.6.5-0"]);
    }

    #[test]
    fn every_minor_names_its_crictl_and_cni_versions() {
        let catalog = Catalog::embedded().unwrap();
        let v = catalog.binary_versions(&KubernetesVersion::parse("v1.34.4").unwrap()).unwrap();
        assert_eq!((v.crictl.as_str(), v.cni.as_str()), ("v1.34.0", "v1.7.1"));
        for minor in 31..=37 {
            let v = catalog.binary_versions(&KubernetesVersion::parse(&format!("v1.{minor}.0")).unwrap()).unwrap();
            assert!(v.crictl.starts_with(&format!("v1.{minor}.")), "{v:?}");
        }
    }

    #[test]
    fn unknown_version_lists_the_supported_ones() {
        let v = KubernetesVersion::parse("v1.30.4").unwrap();
        let err = Catalog::embedded().unwrap().images(&v, None, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("v1.30.4") && err.contains("v1.31.x") && err.contains("v1.37.x"), "{err}");
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in ["", "v1", "v1.31", "1.31.x", "v1.31.2-", "latest"] {
            assert!(KubernetesVersion::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(KubernetesVersion::parse("v1.32.0-rc.1").unwrap().to_string(), "v1.32.0-rc.1");
    }

    #[test]
    fn rejects_out_of_order_ranges() {
        let text = "minor: v1.40\nimageRepository: r\nbinaries: {crictl: v1.40.0, cni: v1.9.0, source: s}\nranges:\n- {from: v1.40.0, etcd: a, coredns: b, pause: c, source: s}\n- {from: v1.40.0, etcd: a, coredns: b, pause: c, source: s}\n";
        assert!(matches!(Catalog::from_files(&[("x.yaml", text)]), Err(CatalogError::Malformed { .. })));
    }
}
