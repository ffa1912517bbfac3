//! Paths of tar entries inside the root a layer is applied to: cleaned as Go's `filepath.Clean`,
//! resolved as containerd's `fs.RootPath` (symlinks followed as if the root were `/`), missing
//! parents created and whatever is in the way removed, as containerd does.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Component, Path, PathBuf};

use super::named;

/// Symlinks followed while resolving one path, as Linux's own limit (ELOOP past it).
const MAX_SYMLINKS: usize = 40;

/// Go's `filepath.Clean` of an entry name, as components below the root: `.` dropped, `..`
/// taken lexically and never above the root.
pub(super) fn clean(name: &Path) -> Vec<OsString> {
    let mut components = Vec::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => components.push(part.to_owned()),
            Component::ParentDir => {
                components.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    components
}

/// `components` below `root` with every symlink on the way followed as if `root` were `/`
/// (containerd's continuity `fs.RootPath`): nothing resolves outside `root`. Missing
/// components are taken as they are.
pub(super) fn resolve(root: &Path, components: &[OsString]) -> io::Result<PathBuf> {
    let mut pending: VecDeque<OsString> = components.iter().cloned().collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut followed = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        if part.is_empty() || part == "." {
            continue;
        }
        let candidate: PathBuf =
            std::iter::once(root.as_os_str()).chain(resolved.iter().map(OsString::as_os_str)).chain([part.as_os_str()]).collect();
        match fs_err::symlink_metadata(&candidate) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err(named(io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error()), &candidate));
                }
                let target = fs_err::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, component) in target.components().filter_map(|c| component_text(c)).enumerate() {
                    pending.insert(i, component);
                }
            }
            _ => resolved.push(part),
        }
    }
    Ok(std::iter::once(root.as_os_str()).chain(resolved.iter().map(OsString::as_os_str)).collect())
}

fn component_text(component: Component<'_>) -> Option<OsString> {
    match component {
        Component::Normal(part) => Some(part.to_owned()),
        Component::ParentDir => Some("..".into()),
        Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
    }
}

/// containerd's `mkparent`: missing directories between `root` and `dir` are created, 0755.
pub(super) fn make_parents(root: &Path, dir: &Path) -> io::Result<()> {
    match fs_err::symlink_metadata(dir) {
        Ok(metadata) if metadata.is_dir() => return Ok(()),
        Ok(_) => return Err(named(io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error()), dir)),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    if let Some(up) = dir.parent()
        && up != root
        && up.starts_with(root)
    {
        make_parents(root, up)?;
    }
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Err(e) if !(e.kind() == io::ErrorKind::AlreadyExists && fs_err::symlink_metadata(dir).is_ok_and(|m| m.is_dir())) => {
            Err(named(e, dir))
        }
        _ => Ok(()),
    }
}

/// Go's `os.RemoveAll`: whatever is at `path`, gone; nothing there is fine.
pub(super) fn remove_all(path: &Path) -> io::Result<()> {
    match fs_err::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(metadata) if metadata.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
    }
}
