//! Where airadm writes a layer, given the mounts `Snapshots.Prepare` returned: a bind mount's
//! source as it is (a bind mount shows that same tree), or an overlay mounted here on a temp dir
//! and unmounted on drop. Other mounts (and options we do not know), and mounts whose paths this
//! process cannot see (airadm in a chroot or a container of its own, talking to the host's
//! containerd over its socket), are left to containerd's `Diff.Apply`.

use std::io;
use std::path::{Path, PathBuf};

use containerd_client::types::Mount;
use rustix::mount::{MountFlags, UnmountFlags};

/// Overlay options passed through to the kernel as they are.
const OVERLAY_OPTIONS: &[&str] = &["lowerdir", "upperdir", "workdir", "index", "userxattr", "redirect_dir", "metacopy", "volatile", "xino"];
/// The kernel takes at most a page of mount data; containerd shortens longer lowerdirs with a
/// chdir trick that is not worth copying: such snapshots go through `Diff.Apply`.
const MAX_MOUNT_DATA: usize = 4000;

/// A writable view of a prepared snapshot that airadm can write into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The directory of a bind mount.
    Directory(PathBuf),
    /// An overlay, by its `-o` data (`lowerdir=…,upperdir=…,workdir=…`).
    Overlay(String),
}

impl Target {
    /// The target for `mounts`, when airadm handles them.
    pub fn of(mounts: &[Mount]) -> Option<Self> {
        let [mount] = mounts else { return None };
        let options = mount.options.iter().filter(|o| *o != "rw");
        match mount.r#type.as_str() {
            "bind" if Path::new(&mount.source).is_absolute() && options.clone().all(|o| o == "bind" || o == "rbind") => {
                Some(Self::Directory(PathBuf::from(&mount.source)))
            }
            "overlay" => {
                let options: Vec<&str> = options.map(String::as_str).collect();
                let known = options.iter().all(|o| OVERLAY_OPTIONS.contains(&o.split_once('=').map_or(*o, |(key, _)| key)));
                let data = options.join(",");
                (known && data.len() <= MAX_MOUNT_DATA && data.contains("upperdir=")).then_some(Self::Overlay(data))
            }
            _ => None,
        }
    }

    /// Whether the directories the target names are there for this process (they are whenever
    /// airadm sees the file system containerd sees: containerd made them before answering).
    pub fn visible(&self) -> bool {
        match self {
            Self::Directory(dir) => dir.is_dir(),
            Self::Overlay(data) => data
                .split(',')
                .filter_map(|o| o.split_once('='))
                .filter(|(key, _)| matches!(*key, "lowerdir" | "upperdir" | "workdir"))
                .flat_map(|(_, dirs)| dirs.split(':'))
                .all(|dir| Path::new(dir).is_dir()),
        }
    }
}

/// A target ready to write into; an overlay stays mounted until this drops.
pub struct Mounted {
    root: PathBuf,
    /// The mount point of an overlay (removed after unmounting).
    mount_point: Option<tempfile::TempDir>,
}

impl Mounted {
    /// Mounts `target` if it is an overlay.
    pub fn new(target: &Target) -> io::Result<Self> {
        match target {
            Target::Directory(dir) => Ok(Self { root: dir.clone(), mount_point: None }),
            Target::Overlay(data) => {
                let dir = tempfile::Builder::new().prefix("airadm-apply-").tempdir()?;
                let data = std::ffi::CString::new(data.as_str()).map_err(io::Error::other)?;
                tracing::debug!(target = %dir.path().display(), "mounting overlay");
                rustix::mount::mount("overlay", dir.path(), "overlay", MountFlags::empty(), data.as_c_str())
                    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("mount overlay on {}: {e}", dir.path().display())))?;
                Ok(Self { root: dir.path().to_owned(), mount_point: Some(dir) })
            }
        }
    }

    /// Where the snapshot's tree is.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(dir) = &self.mount_point
            && rustix::mount::unmount(dir.path(), UnmountFlags::empty()).is_err()
        {
            // Busy (it should not be: nothing of ours is open there): detach it, so the kernel
            // unmounts it once it is free and the temp dir can go.
            let _ = rustix::mount::unmount(dir.path(), UnmountFlags::DETACH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(kind: &str, source: &str, options: &[&str]) -> Mount {
        Mount { r#type: kind.into(), source: source.into(), target: String::new(), options: options.iter().map(|o| (*o).into()).collect() }
    }

    #[test]
    fn bind_mounts_are_written_in_place() {
        let m = mount("bind", "/var/lib/containerd/snapshots/1/fs", &["rw", "rbind"]);
        assert_eq!(Target::of(&[m]), Some(Target::Directory("/var/lib/containerd/snapshots/1/fs".into())));
    }

    #[test]
    fn overlays_pass_their_options_to_the_kernel() {
        let m = mount("overlay", "overlay", &["index=off", "workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs"]);
        assert_eq!(Target::of(&[m]), Some(Target::Overlay("index=off,workdir=/s/2/work,upperdir=/s/2/fs,lowerdir=/s/1/fs".into())));
    }

    #[test]
    fn a_target_is_visible_only_when_its_directories_are_here() {
        let dir = tempfile::tempdir().unwrap();
        let here = |name: &str| {
            let path = dir.path().join(name);
            fs_err::create_dir_all(&path).unwrap();
            path.display().to_string()
        };
        let (lower, lower2, upper, work) = (here("1/fs"), here("0/fs"), here("2/fs"), here("2/work"));
        assert!(Target::Directory(lower.clone().into()).visible());
        assert!(!Target::Directory(dir.path().join("9/fs")).visible());
        let overlay = |lower: &str| Target::Overlay(format!("index=off,workdir={work},upperdir={upper},lowerdir={lower}"));
        assert!(overlay(&format!("{lower}:{lower2}")).visible());
        assert!(!overlay(&format!("{lower}:/nowhere/fs")).visible());
    }

    #[test]
    fn read_only_unknown_or_several_mounts_are_left_to_containerd() {
        assert_eq!(Target::of(&[mount("bind", "/s/1/fs", &["ro", "rbind"])]), None);
        assert_eq!(Target::of(&[mount("overlay", "overlay", &["upperdir=/u", "lowerdir=/l", "workdir=/w", "uidmap=0:1:2"])]), None);
        assert_eq!(Target::of(&[mount("overlay", "overlay", &["lowerdir=/a:/b"])]), None);
        assert_eq!(Target::of(&[mount("btrfs", "/dev/sda", &[])]), None);
        assert_eq!(Target::of(&[mount("bind", "/a", &["rbind"]), mount("bind", "/b", &["rbind"])]), None);
    }
}
