//! CRI-O: images go into the containers-storage CRI-O reads (`/var/lib/containers/storage`, or
//! the root `storage.conf` / `CONTAINERS_STORAGE_CONF` names). No Rust library writes
//! containers-storage, so the verified OCI layout is staged in a directory and `skopeo copy`
//! (containers/image, the library CRI-O itself uses) imports each image from it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Importing into containers-storage failed.
#[derive(Debug, thiserror::Error)]
pub enum CrioError {
    /// skopeo is not installed.
    #[error(
        "importing into CRI-O's containers-storage needs skopeo, which is not installed: apt-get install skopeo (or dnf install skopeo)"
    )]
    NoSkopeo,
    /// skopeo failed.
    #[error("skopeo could not import `{image}` into containers-storage: {stderr}")]
    Copy {
        /// The image.
        image: String,
        /// What skopeo said.
        stderr: String,
    },
}

fn skopeo() -> Result<PathBuf, CrioError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("skopeo")).find(|p| p.is_file()).ok_or(CrioError::NoSkopeo)
}

/// Checks skopeo is there before anything is staged.
pub fn preflight() -> Result<(), CrioError> {
    skopeo().map(|_| ())
}

/// Copies image `name` from the staged layout `layout` into containers-storage.
pub fn copy_image(layout: &Path, name: &str, arch: &str) -> Result<(), CrioError> {
    let out = Command::new(skopeo()?)
        .args(["copy", "--quiet", "--override-os", "linux", "--override-arch", arch])
        .arg(format!("oci:{}:{name}", layout.display()))
        .arg(format!("containers-storage:{name}"))
        .output()
        .map_err(|e| CrioError::Copy { image: name.into(), stderr: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_owned();
    Err(CrioError::Copy { image: name.into(), stderr })
}

/// CRI-O's main config and its drop-in directory, below the root.
pub const CONFIG: &str = "etc/crio/crio.conf";
/// CRI-O's drop-in directory (files applied in name order, later ones win).
pub const CONFIG_DIR: &str = "etc/crio/crio.conf.d";

/// The `[crio.image] pause_image` CRI-O will use, as its config files under `root` set it
/// (`crio.conf`, then `crio.conf.d/*.conf` in name order); `None` when none sets it (CRI-O's
/// built-in default applies). Files that do not parse are skipped: CRI-O itself would refuse them.
pub fn pause_image(root: &Path) -> Option<String> {
    let mut files = vec![root.join(CONFIG)];
    if let Ok(dir) = fs_err::read_dir(root.join(CONFIG_DIR)) {
        let mut drop_ins: Vec<PathBuf> =
            dir.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "conf")).collect();
        drop_ins.sort();
        files.extend(drop_ins);
    }
    files.iter().filter_map(|f| fs_err::read_to_string(f).ok()).filter_map(|text| toml::from_str::<toml::Table>(&text).ok()).fold(
        None,
        |found, table| {
            let set = table.get("crio").and_then(|c| c.get("image")).and_then(|i| i.get("pause_image")).and_then(|p| p.as_str());
            set.map(str::to_owned).or(found)
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pause_image_follows_crio_config_then_drop_ins_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(super::pause_image(root.path()), None);
        let dir = root.path().join(super::CONFIG_DIR);
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(root.path().join(super::CONFIG), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.9\"\n").unwrap();
        assert_eq!(super::pause_image(root.path()).as_deref(), Some("registry.k8s.io/pause:3.9"));
        fs_err::write(dir.join("20-b.conf"), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.10\"\n").unwrap();
        fs_err::write(dir.join("10-a.conf"), "[crio.image]\npause_image = \"example.com/pause:1\"\n").unwrap();
        fs_err::write(dir.join("30-other.conf"), "[crio.runtime]\nlog_level = \"info\"\n").unwrap();
        fs_err::write(dir.join("40-notes.txt"), "[crio.image]\npause_image = \"ignored\"\n").unwrap();
        assert_eq!(super::pause_image(root.path()).as_deref(), Some("registry.k8s.io/pause:3.10"));
    }
}
