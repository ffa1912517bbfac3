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
