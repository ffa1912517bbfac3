//! Emptying a node directory (kubeadm reset's `CleanDir`): every entry below it removed, the
//! directory itself kept. Lookups start inside the root and never follow a symlink, so a link
//! planted in `/var/lib/kubelet` removes the link, not what it points at; nothing on another
//! filesystem is entered (a mount left under the kubelet's directory is an error, not its
//! contents deleted).

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::{Root, open_in};

impl Root {
    /// Removes everything inside node directory `path`; a missing directory is fine. Returns the
    /// node paths of the entries it removed (top level only), sorted.
    pub fn clean_dir(&self, path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let path = path.as_ref();
        let parts = self.relative(path)?;
        let dir = match open_in(&self.open_root()?, &parts, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(Vec::new()),
            Err(e) => return Err(self.at_path(e.into(), path)),
        };
        let device = rustix::fs::fstat(&dir).map_err(|e| self.at_path(e.into(), path))?.st_dev;
        let mut removed = Vec::new();
        for name in entries(&dir).map_err(|e| self.at_path(e.into(), path))? {
            let node = path.join(&name);
            remove_entry(&dir, &name, device).map_err(|e| self.at_path(e, &node))?;
            removed.push(node);
        }
        removed.sort();
        Ok(removed)
    }
}

/// The names in `dir`, without `.` and `..`.
fn entries(dir: &OwnedFd) -> rustix::io::Result<Vec<OsString>> {
    use std::os::unix::ffi::OsStrExt as _;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsStr::from_bytes(name).to_owned());
        }
    }
    Ok(names)
}

/// Removes `name` in `parent`: a directory (not a link to one) depth first, on `device` only.
fn remove_entry(parent: &OwnedFd, name: &OsString, device: u64) -> io::Result<()> {
    let stat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(Into::into);
    }
    if stat.st_dev != device {
        return Err(io::Error::other("a mount point: unmount it first (kubeadm reset unmounts what is under /var/lib/kubelet)"));
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir = rustix::fs::openat(parent, name, flags, Mode::empty())?;
    for child in entries(&dir)? {
        remove_entry(&dir, &child, device).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", child.to_string_lossy())))?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(Into::into)
}
