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
    /// A CRI-O config file could not be read.
    #[error("cannot read CRI-O config file `{}`: fix its permissions or remove it", path.display())]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A CRI-O config file is not TOML (CRI-O itself would refuse to start).
    #[error("CRI-O config file `{}` line {line} is not valid TOML: {message}: fix the file (CRI-O would refuse it too)", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// What the parser said.
        message: String,
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

/// CRI-O's configuration directory: `crio.conf` and the `crio.conf.d` drop-ins.
pub const CONFIG_DIR: &str = "/etc/crio";

/// The `[crio.image] pause_image` CRI-O will use, as its config files in `config_dir` set it
/// (`crio.conf`, then `crio.conf.d/*.conf` in name order); `None` when none sets it (CRI-O's
/// built-in default applies). Absent files are skipped; one that cannot be read or parsed is an
/// error naming it (and the line).
pub fn pause_image(config_dir: &Path) -> Result<Option<String>, CrioError> {
    let mut files = vec![config_dir.join("crio.conf")];
    let drop_in_dir = config_dir.join("crio.conf.d");
    match fs_err::read_dir(&drop_in_dir) {
        Ok(dir) => {
            let mut drop_ins = Vec::new();
            for entry in dir {
                let path = entry.map_err(|source| CrioError::ReadConfig { path: drop_in_dir.clone(), source })?.path();
                if path.extension().is_some_and(|e| e == "conf") {
                    drop_ins.push(path);
                }
            }
            drop_ins.sort();
            files.extend(drop_ins);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(CrioError::ReadConfig { path: drop_in_dir, source }),
    }
    let mut found = None;
    for path in files {
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(CrioError::ReadConfig { path, source }),
        };
        let table = toml::from_str::<toml::Table>(&text).map_err(|e| CrioError::Config {
            line: e.span().map_or(1, |span| text[..span.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_owned(),
            path: path.clone(),
        })?;
        let set = table.get("crio").and_then(|c| c.get("image")).and_then(|i| i.get("pause_image")).and_then(|p| p.as_str());
        found = set.map(str::to_owned).or(found);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pause_image_follows_crio_config_then_drop_ins_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(super::pause_image(root.path()).unwrap(), None);
        let dir = root.path().join("crio.conf.d");
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(root.path().join("crio.conf"), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.9\"\n").unwrap();
        assert_eq!(super::pause_image(root.path()).unwrap().as_deref(), Some("registry.k8s.io/pause:3.9"));
        fs_err::write(dir.join("20-b.conf"), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.10\"\n").unwrap();
        fs_err::write(dir.join("10-a.conf"), "[crio.image]\npause_image = \"example.com/pause:1\"\n").unwrap();
        fs_err::write(dir.join("30-other.conf"), "[crio.runtime]\nlog_level = \"info\"\n").unwrap();
        fs_err::write(dir.join("40-notes.txt"), "[crio.image]\npause_image = \"ignored\"\n").unwrap();
        assert_eq!(super::pause_image(root.path()).unwrap().as_deref(), Some("registry.k8s.io/pause:3.10"));
    }

    #[test]
    fn a_crio_config_that_does_not_parse_is_an_error_naming_the_file_and_line() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("crio.conf.d");
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(dir.join("10-a.conf"), "[crio.image]\npause_image = \"registry.k8s.io/pause:3.10\"\n").unwrap();
        let bad = dir.join("20-bad.conf");
        fs_err::write(&bad, "[crio.image]\n# a comment\npause_image = registry.k8s.io/pause:3.10\n").unwrap();
        let err = super::pause_image(root.path()).unwrap_err();
        assert!(matches!(&err, super::CrioError::Config { path, line: 3, .. } if *path == bad), "{err:?}");
        assert!(err.to_string().starts_with(&format!("CRI-O config file `{}` line 3 is not valid TOML: ", bad.display())), "{err}");
    }
}
