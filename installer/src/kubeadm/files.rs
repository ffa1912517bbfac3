//! The node's filesystem as `init` writes it: every path is a node path (`/etc/kubernetes/…`)
//! placed under a root (`/`, or `--rootfs DIR`); every file is written atomically (a temp file in
//! the same directory, synced, given its mode, renamed), so a reader never sees half a key and an
//! interrupted run leaves either the old file or the new one.

use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Mode of private keys and kubeconfigs.
pub const PRIVATE: u32 = 0o600;
/// Mode of certificates and public files.
pub const PUBLIC: u32 = 0o644;

/// Where node paths land.
#[derive(Debug, Clone)]
pub struct Root {
    root: PathBuf,
}

impl Root {
    /// Node paths under `root` (`/` for the real node).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root itself.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Where node path `path` (absolute) is on this machine.
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Reads a node file; `None` when it does not exist.
    pub fn read(&self, path: impl AsRef<Path>) -> io::Result<Option<Vec<u8>>> {
        match fs_err::read(self.path(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a node path exists.
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.path(path).exists()
    }

    /// Creates a node directory (and its parents) with `mode` for the ones it creates.
    pub fn create_dir(&self, path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
        let full = self.path(path);
        std::fs::DirBuilder::new().recursive(true).mode(mode).create(&full).map_err(|e| with_path(e, &full))
    }

    /// Writes a node file atomically with `mode`; parents are created 0755 (kubeadm's
    /// `/etc/kubernetes/manifests` is 0700: create it first with [`Root::create_dir`]).
    pub fn write(&self, path: impl AsRef<Path>, bytes: &[u8], mode: u32) -> io::Result<()> {
        let full = self.path(path);
        let parent = full.parent().ok_or_else(|| io::Error::other(format!("`{}` has no parent directory", full.display())))?;
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(|e| with_path(e, parent))?;
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{}.", full.file_name().and_then(|n| n.to_str()).unwrap_or("airadm")))
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempfile_in(parent)
            .map_err(|e| with_path(e, parent))?;
        temp.write_all(bytes)?;
        // The mode is given at creation (no window with a wider one); set it again past the umask.
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        temp.as_file().sync_all()?;
        temp.persist(&full).map_err(|e| with_path(e.error, &full))?;
        Ok(())
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn writes_under_the_root_with_the_mode_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let root = super::Root::new(dir.path());
        root.write("/etc/kubernetes/pki/ca.key", b"one", super::PRIVATE).unwrap();
        let path = dir.path().join("etc/kubernetes/pki/ca.key");
        assert_eq!(fs_err::read(&path).unwrap(), b"one");
        assert_eq!(fs_err::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        root.write("/etc/kubernetes/pki/ca.key", b"two", super::PRIVATE).unwrap();
        assert_eq!(root.read("/etc/kubernetes/pki/ca.key").unwrap().unwrap(), b"two");
        assert_eq!(fs_err::read_dir(path.parent().unwrap()).unwrap().count(), 1, "temp file left");
        assert_eq!(root.read("/nope").unwrap(), None);
    }
}
