//! Atomic file output: temp file in the target directory, mode set, fsync, rename. An
//! interrupted write never leaves a file under the final name.

use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Writes `contents` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = temp_beside(path)?;
    file.write_all(contents)?;
    persist(file, path, mode)
}

/// A temporary file in `path`'s directory, hidden and removed on drop unless persisted.
pub fn temp_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".partial").tempfile_in(dir)
}

/// Sets `mode`, syncs and renames `file` to `path`.
pub fn persist(file: tempfile::NamedTempFile, path: &Path, mode: u32) -> io::Result<()> {
    file.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| io::Error::new(e.error.kind(), format!("failed to rename into `{}`: {}", path.display(), e.error)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn writes_with_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("release.key");
        write_atomic(&path, b"secret", 0o600).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"secret");
        assert_eq!(fs_err::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
    }
}
