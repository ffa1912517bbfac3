//! The node's filesystem as `init` writes it: every path is a node path (`/etc/kubernetes/…`)
//! placed under a root (`/`, `--rootfs DIR` or the `--dry-run` directory); every file is written
//! atomically (a temp file in the same directory, synced, given its mode, renamed), so a reader
//! never sees half a key and an interrupted run leaves either the old file or the new one.
//!
//! Nothing reaches outside the root. A node path is cleaned as Go's `filepath.Clean`, and one
//! whose `..` climbs above `/` is refused, naming the path and the root. Every path is then opened
//! with `openat2(RESOLVE_IN_ROOT)` from the root directory, so symlinks inside the root resolve as
//! if the root were `/` (as kubeadm's `chroot` into `--rootfs` does): `etc/kubernetes -> /etc`
//! lands in the root's `etc`, never the host's, and no rename under the root can race it out.
//! The final component of a written file is never followed: the temp file is created
//! `O_EXCL|O_NOFOLLOW` and renamed over whatever is there (a symlink is replaced, not written
//! through).

use std::ffi::OsString;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

/// Mode of private keys and kubeconfigs.
pub const PRIVATE: u32 = 0o600;
/// Mode of certificates and public files.
pub const PUBLIC: u32 = 0o644;

/// How often `openat2` is retried when the kernel asks (`EAGAIN`: a rename raced the lookup).
const RESOLVE_RETRIES: usize = 16;

/// Where node paths land.
#[derive(Debug, Clone)]
pub struct Root {
    root: PathBuf,
    /// How errors name the root: `--rootfs`, `the --dry-run directory`, `the root`.
    label: &'static str,
}

impl Root {
    /// Node paths under `root` (`/` for the real node).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), label: "the root" }
    }

    /// `--rootfs DIR` (named so in errors), else `/`.
    pub fn rootfs(dir: Option<&Path>) -> Self {
        dir.map_or_else(|| Self::new("/"), |dir| Self::new(dir).named("--rootfs"))
    }

    /// The same root, named `label` in errors (`--rootfs`, `the --dry-run directory`).
    #[must_use]
    pub fn named(mut self, label: &'static str) -> Self {
        self.label = label;
        self
    }

    /// The root itself.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Refuses a node path that leaves the root; `what` names where it comes from
    /// (`certificatesDir`, `--cert-dir`).
    pub fn check(&self, what: &str, path: &str) -> io::Result<()> {
        clean(Path::new(path)).map(drop).ok_or_else(|| self.escape(Some(what), Path::new(path)))
    }

    /// Where node path `path` (absolute) is on this machine, cleaned; refused when its `..`
    /// climbs above `/`. Symlinks are not resolved: use it to name files, and the methods below to
    /// read and write them.
    pub fn path(&self, path: impl AsRef<Path>) -> io::Result<PathBuf> {
        let parts = self.relative(path.as_ref())?;
        Ok(std::iter::once(self.root.as_os_str()).chain(parts.iter().map(OsString::as_os_str)).collect())
    }

    /// Reads a node file; `None` when it does not exist.
    pub fn read(&self, path: impl AsRef<Path>) -> io::Result<Option<Vec<u8>>> {
        let path = path.as_ref();
        let parts = self.relative(path)?;
        let root = self.open_root()?;
        match open_in(&root, &parts, OFlags::RDONLY) {
            Ok(fd) => {
                let mut bytes = Vec::new();
                std::fs::File::from(fd).read_to_end(&mut bytes).map_err(|e| self.at_path(e, path))?;
                Ok(Some(bytes))
            }
            Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
            Err(e) => Err(self.at_path(e.into(), path)),
        }
    }

    /// Whether a node path exists (a path that leaves the root exists nowhere; reading or
    /// writing it is refused).
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        let Ok(parts) = self.relative(path.as_ref()) else { return false };
        self.open_root().is_ok_and(|root| open_in(&root, &parts, OFlags::PATH).is_ok())
    }

    /// Whether node directory `path` exists and holds anything.
    pub fn dir_has_entries(&self, path: impl AsRef<Path>) -> io::Result<bool> {
        let path = path.as_ref();
        let parts = self.relative(path)?;
        let root = self.open_root()?;
        let fd = match open_in(&root, &parts, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(false),
            Err(e) => return Err(self.at_path(e.into(), path)),
        };
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(|e| self.at_path(e.into(), path))?;
        for entry in dir.by_ref() {
            let entry = entry.map_err(|e| self.at_path(e.into(), path))?;
            if entry.file_name().to_bytes() != b"." && entry.file_name().to_bytes() != b".." {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Creates a node directory (and its parents) with `mode` for the ones it creates.
    pub fn create_dir(&self, path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
        let path = path.as_ref();
        let parts = self.relative(path)?;
        self.make_dirs(&self.open_root()?, &parts, mode, path).map(drop)
    }

    /// Writes a node file atomically with `mode`; parents are created 0755 (kubeadm's
    /// `/etc/kubernetes/manifests` is 0700: create it first with [`Root::create_dir`]).
    pub fn write(&self, path: impl AsRef<Path>, bytes: &[u8], mode: u32) -> io::Result<()> {
        let path = path.as_ref();
        let mut parts = self.relative(path)?;
        let name = parts.pop().ok_or_else(|| self.at_path(io::Error::other("it is the root itself, not a file"), path))?;
        let parent = self.make_dirs(&self.open_root()?, &parts, 0o755, path)?;
        let temp = temp_file(&parent, &name, mode).map_err(|e| self.at_path(e, path))?;
        let written = write_synced(temp.1, bytes, mode)
            .and_then(|()| rustix::fs::renameat(&parent, &temp.0, &parent, &name).map_err(io::Error::from));
        if let Err(e) = written {
            // The temp file goes; what was at `path` before stays as it was.
            let _ = rustix::fs::unlinkat(&parent, &temp.0, AtFlags::empty());
            return Err(self.at_path(e, path));
        }
        Ok(())
    }

    /// Opens a node file for reading; `None` when it does not exist.
    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<Option<std::fs::File>> {
        let path = path.as_ref();
        let parts = self.relative(path)?;
        match open_in(&self.open_root()?, &parts, OFlags::RDONLY) {
            Ok(fd) => Ok(Some(std::fs::File::from(fd))),
            Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
            Err(e) => Err(self.at_path(e.into(), path)),
        }
    }

    /// Removes node directory `path` if it is empty (a directory a refused operation created).
    pub fn remove_empty_dir(&self, path: impl AsRef<Path>) -> io::Result<()> {
        use rustix::io::Errno;
        self.unlink(path.as_ref(), AtFlags::REMOVEDIR, &[Errno::NOENT, Errno::NOTEMPTY, Errno::EXIST])
    }

    /// Removes node file `path`; one that is not there is fine.
    pub fn remove(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.unlink(path.as_ref(), AtFlags::empty(), &[rustix::io::Errno::NOENT])
    }

    /// `unlinkat` of node path `path` in its parent, opened inside the root; `fine` errors and a
    /// missing parent are no error.
    fn unlink(&self, path: &Path, flags: AtFlags, fine: &[rustix::io::Errno]) -> io::Result<()> {
        let mut parts = self.relative(path)?;
        let Some(name) = parts.pop() else { return Ok(()) };
        let parent = match open_in(&self.open_root()?, &parts, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e == rustix::io::Errno::NOENT => return Ok(()),
            Err(e) => return Err(self.at_path(e.into(), path)),
        };
        match rustix::fs::unlinkat(&parent, &name, flags) {
            Ok(()) => Ok(()),
            Err(e) if fine.contains(&e) => Ok(()),
            Err(e) => Err(self.at_path(e.into(), path)),
        }
    }

    /// Starts writing a node file of `mode` that may be large: a temp file beside it (parents
    /// created 0755), renamed over `path` by [`Staged::commit`], removed if dropped before.
    pub fn stage(&self, path: impl AsRef<Path>, mode: u32) -> io::Result<Staged> {
        let path = path.as_ref();
        let mut parts = self.relative(path)?;
        let name = parts.pop().ok_or_else(|| self.at_path(io::Error::other("it is the root itself, not a file"), path))?;
        let parent = self.make_dirs(&self.open_root()?, &parts, 0o755, path)?;
        let (temp, fd) = temp_file(&parent, &name, mode).map_err(|e| self.at_path(e, path))?;
        let shown = self.path(path)?;
        Ok(Staged { parent, temp, name, file: Some(std::fs::File::from(fd)), mode, shown })
    }

    /// `path` as components below the root, or the escape error.
    fn relative(&self, path: &Path) -> io::Result<Vec<OsString>> {
        clean(path).ok_or_else(|| self.escape(None, path))
    }

    fn escape(&self, what: Option<&str>, path: &Path) -> io::Error {
        let what = what.map(|w| format!("{w} ")).unwrap_or_default();
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what}`{}` leaves {} `{}`: give an absolute path with no `..` above `/`",
                path.display(),
                self.label,
                self.root.display()
            ),
        )
    }

    fn dangling(&self, prefix: &[OsString]) -> io::Error {
        let node: PathBuf = std::iter::once(OsString::from("/")).chain(prefix.iter().cloned()).collect();
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "`{}` under {} `{}` is a symlink to a path missing there: symlinks resolve inside it as in a chroot; make it a directory or point it inside",
                node.display(),
                self.label,
                self.root.display()
            ),
        )
    }

    fn at_path(&self, e: io::Error, path: &Path) -> io::Error {
        let full = self.path(path).unwrap_or_else(|_| path.to_owned());
        io::Error::new(e.kind(), format!("{}: {e}", full.display()))
    }

    fn open_root(&self) -> io::Result<OwnedFd> {
        rustix::fs::open(&self.root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("{} `{}`: {e}", self.label, self.root.display())))
    }

    /// Opens (creating what is missing, `mode`) each directory of `parts` below `root`; returns
    /// the last one. Every lookup resolves from the root, so a symlink met on the way stays in it.
    fn make_dirs(&self, root: &OwnedFd, parts: &[OsString], mode: u32, path: &Path) -> io::Result<OwnedFd> {
        let mut dir = open_in(root, &[], OFlags::PATH | OFlags::DIRECTORY).map_err(|e| self.at_path(e.into(), path))?;
        for depth in 1..=parts.len() {
            let prefix = &parts[..depth];
            dir = match open_in(root, prefix, OFlags::PATH | OFlags::DIRECTORY) {
                Ok(fd) => fd,
                Err(e) if e == rustix::io::Errno::NOENT => {
                    match rustix::fs::mkdirat(&dir, &parts[depth - 1], Mode::from_raw_mode(mode)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(self.at_path(e.into(), path)),
                    }
                    match open_in(root, prefix, OFlags::PATH | OFlags::DIRECTORY) {
                        Ok(fd) => fd,
                        // There is something, and it leads nowhere: a symlink to a missing path.
                        Err(rustix::io::Errno::NOENT) => return Err(self.dangling(prefix)),
                        Err(e) => return Err(self.at_path(e.into(), path)),
                    }
                }
                Err(e) => return Err(self.at_path(e.into(), path)),
            };
        }
        Ok(dir)
    }
}

/// A node file being written (see [`Root::stage`]).
pub struct Staged {
    parent: OwnedFd,
    temp: OsString,
    name: OsString,
    file: Option<std::fs::File>,
    mode: u32,
    shown: PathBuf,
}

impl Staged {
    /// Where the bytes go until the commit.
    pub fn writer(&mut self) -> &mut std::fs::File {
        // Some until commit or drop, which take it.
        #[allow(clippy::expect_used)]
        self.file.as_mut().expect("a staged file is open until committed")
    }

    /// Syncs the file, gives it its mode and renames it over its final path.
    pub fn commit(mut self) -> io::Result<()> {
        let at = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", self.shown.display()));
        if let Some(file) = self.file.take() {
            file.set_permissions(std::fs::Permissions::from_mode(self.mode)).map_err(at)?;
            file.sync_all().map_err(at)?;
        }
        rustix::fs::renameat(&self.parent, &self.temp, &self.parent, &self.name).map_err(|e| at(e.into()))?;
        self.temp.clear();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.temp.is_empty() {
            let _ = rustix::fs::unlinkat(&self.parent, &self.temp, AtFlags::empty());
        }
    }
}

/// Go's `filepath.Clean` of an absolute node path as components below `/`; `None` when a `..`
/// climbs above `/` (kubeadm in a chroot would stop at `/`; a config that says so is a mistake or
/// an attack, so it is refused rather than reinterpreted).
fn clean(path: &Path) -> Option<Vec<OsString>> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(parts)
}

/// `openat2(root, parts, flags, RESOLVE_IN_ROOT)`: symlinks resolve as if `root` were `/`.
fn open_in(root: &OwnedFd, parts: &[OsString], flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let relative: PathBuf = if parts.is_empty() { PathBuf::from(".") } else { parts.iter().collect() };
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(
            root,
            &relative,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(rustix::io::Errno::AGAIN) if tries < RESOLVE_RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// A new file `.NAME.PID.N` in `dir`, created exclusively, never through a symlink.
fn temp_file(dir: &OwnedFd, name: &OsString, mode: u32) -> io::Result<(OsString, OwnedFd)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut temp = OsString::from(".");
        temp.push(name);
        temp.push(format!(".{}.{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, &temp, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => return Ok((temp, fd)),
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn write_synced(fd: OwnedFd, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    // The mode is given at creation (no window with a wider one); set it again past the umask.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.sync_all()
}

mod clean;

#[cfg(test)]
mod tests;
