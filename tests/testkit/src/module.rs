//! kubeadm's source as the Go module proxy serves it (`k8s.io/kubernetes@VERSION`, downloaded
//! into the machine's module cache by `go mod download`): for facts that are cheaper to read from
//! the source than to build a kubeadm for, such as the image versions of every patch release.

use std::path::PathBuf;
use std::process::Command;

use crate::{require, run_ok};

/// Every release of `k8s.io/kubernetes` the module proxy lists, from `v1.MIN_MINOR.0` on, in the
/// proxy's (semver) order. Pre-releases (`v1.38.0-beta.0`) are left out: airadm's catalog covers
/// released minors only.
pub fn served_releases(min_minor: u32) -> Vec<String> {
    require("go", "golang (Go 1.24 or later, with the module proxy)");
    let out = run_ok(Command::new("go").args(["list", "-m", "-versions", "k8s.io/kubernetes"]).current_dir(std::env::temp_dir()));
    out.split_whitespace()
        .skip(1)
        .filter(|v| !v.contains('-'))
        .filter(|v| {
            v.strip_prefix("v1.").and_then(|r| r.split('.').next()).and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= min_minor)
        })
        .map(str::to_owned)
        .collect()
}

/// The directory `go mod download` extracted `k8s.io/kubernetes@version` into.
pub fn source(version: &str) -> PathBuf {
    require("go", "golang (Go 1.24 or later, with the module proxy)");
    let out = run_ok(
        Command::new("go").args(["mod", "download", "-json"]).arg(format!("k8s.io/kubernetes@{version}")).current_dir(std::env::temp_dir()),
    );
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    PathBuf::from(info["Dir"].as_str().unwrap_or_else(|| panic!("go mod download k8s.io/kubernetes@{version}: no Dir in {out}")))
}

/// The image constants of kubeadm `version` (`cmd/kubeadm/app/constants/constants.go`).
#[derive(Debug, PartialEq, Eq)]
pub struct ImageConstants {
    /// `DefaultImageRepository` (of `apis/kubeadm/v1beta4/defaults.go`).
    pub repository: String,
    /// `SupportedEtcdVersion[minor]`, or the nearest entry, as `EtcdSupportedVersion` picks it.
    pub etcd: String,
    /// `CoreDNSVersion`.
    pub coredns: String,
    /// `PauseVersion`.
    pub pause: String,
}

/// Reads [`ImageConstants`] from the source of `version`.
pub fn image_constants(version: &str) -> ImageConstants {
    let app = source(version).join("cmd/kubeadm/app");
    let path = app.join("constants/constants.go");
    let text = fs_err::read_to_string(&path).unwrap() + &fs_err::read_to_string(app.join("apis/kubeadm/v1beta4/defaults.go")).unwrap();
    let minor: u32 = version.trim_start_matches("v1.").split('.').next().unwrap().parse().unwrap();
    parse_image_constants(&text, minor).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_image_constants(text: &str, minor: u32) -> Result<ImageConstants, String> {
    let constant = |name: &str| -> Result<String, String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name)?.trim_start().strip_prefix('=')?.trim().strip_prefix('"')?.split('"').next())
            .map(str::to_owned)
            .ok_or_else(|| format!("no string constant {name}"))
    };
    let map = text.split_once("SupportedEtcdVersion = map[uint8]string{").ok_or("no SupportedEtcdVersion map")?.1;
    let map = map.split_once('}').ok_or("SupportedEtcdVersion map does not end")?.0;
    // Keys are minors (`34:`) up to v1.34, then relative to kubeadm's own minor
    // (`uint8(getSkewedKubernetesVersion(-1).Minor()):`), which is `minor` here.
    let key_minor = |key: &str| -> Option<u32> {
        match key.strip_prefix("uint8(getSkewedKubernetesVersion(") {
            Some(skew) => minor.checked_add_signed(skew.split(')').next()?.parse().ok()?),
            None => key.parse().ok(),
        }
    };
    let supported: std::collections::BTreeMap<u32, String> = map
        .lines()
        .filter_map(|l| {
            let (key, value) = l.trim().rsplit_once(':')?;
            Some((key_minor(key.trim())?, value.trim().trim_end_matches(',').trim_matches('"').to_owned()))
        })
        .collect();
    // EtcdSupportedVersion: the entry of the minor, else the nearest end of the map (kubeadm
    // v1.37.2's map stops at 36).
    let (first, last) = (supported.first_key_value(), supported.last_key_value());
    let etcd = match (supported.get(&minor), first, last) {
        (Some(etcd), _, _) => Some(etcd),
        (None, Some((low, etcd)), _) if minor < *low => Some(etcd),
        (None, _, Some((high, etcd))) if minor > *high => Some(etcd),
        _ => None,
    };
    Ok(ImageConstants {
        repository: constant("DefaultImageRepository")?,
        etcd: etcd.cloned().ok_or("SupportedEtcdVersion is empty")?,
        coredns: constant("CoreDNSVersion")?,
        pause: constant("PauseVersion")?,
    })
}

#[cfg(test)]
mod tests {
    use super::{ImageConstants, parse_image_constants};

    #[test]
    fn reads_kubeadms_constants() {
        let text = "\tDefaultImageRepository = \"registry.k8s.io\"\n\tDefaultEtcdVersion = \"3.6.4-0\"\n\
                    \tCoreDNSVersion = \"v1.12.1\"\n\tPauseVersion = \"3.10.1\"\n\
                    \tSupportedEtcdVersion = map[uint8]string{\n\t\t33: \"3.5.21-0\",\n\t\t34: \"3.6.4-0\",\n\t}\n";
        let want = |etcd: &str| ImageConstants {
            repository: "registry.k8s.io".into(),
            etcd: etcd.into(),
            coredns: "v1.12.1".into(),
            pause: "3.10.1".into(),
        };
        assert_eq!(parse_image_constants(text, 33).unwrap(), want("3.5.21-0"));
        assert_eq!(parse_image_constants(text, 34).unwrap(), want("3.6.4-0"));
        assert_eq!(parse_image_constants(text, 35).unwrap(), want("3.6.4-0"));
        assert_eq!(parse_image_constants(text, 32).unwrap(), want("3.5.21-0"));
        let skewed = text
            .replace("33:", "uint8(getSkewedKubernetesVersion(-1).Minor()):")
            .replace("34:", "uint8(getSkewedKubernetesVersion(0).Minor()): ");
        assert_eq!(parse_image_constants(&skewed, 34).unwrap(), want("3.6.4-0"));
        assert_eq!(parse_image_constants(&skewed, 35).unwrap(), want("3.6.4-0"));
        assert!(parse_image_constants("PauseVersion = \"3.10\"", 34).unwrap_err().contains("SupportedEtcdVersion"));
    }
}
