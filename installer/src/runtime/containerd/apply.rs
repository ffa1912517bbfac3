//! Applies one OCI layer (a tar, gzip-compressed or not) to a directory, in this process, with the
//! semantics of containerd's own applier when it applies through a temporary mount (containerd
//! v1.6 archive/tar.go `applyNaive` and `createTarFile`): entries replace what is there except a
//! directory onto a directory; `.wh.NAME` deletes NAME; `.wh..wh..opq` deletes what the directory
//! held before this layer; parent paths resolve inside the root, symlinks included; ownership,
//! mode (setuid too), `SCHILY.xattr.*` records and times are set; directory times last. The
//! uncompressed stream is hashed and must be the layer's diffID (containerd's unpacker checks the
//! same, client side: core/unpack/unpacker.go).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt as _;

use fs_err::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use bundle::Digest;
use bundle::digest::HashingReader;
use rustix::fs::{AtFlags, CWD, FileType, Mode, Timestamps, XattrFlags};
use tar::EntryType;

use self::paths::{clean, make_parents, remove_all, resolve};

mod paths;

/// What applying a layer proved about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// sha256 of the uncompressed tar: the layer's diffID.
    pub diff_id: Digest,
    /// Uncompressed bytes.
    pub size: u64,
}

/// Applying a layer failed; the snapshot is left half-written and must not be committed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Reading, decompressing or parsing the layer failed.
    #[error("cannot read layer {layer}")]
    Read {
        /// The layer blob.
        layer: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Writing one entry failed.
    #[error("cannot apply `{entry}` of layer {layer}")]
    Entry {
        /// The layer blob.
        layer: String,
        /// The tar entry.
        entry: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";
/// AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`) at the root: not extracted (containerd skips it).
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const COPY_BUFFER: usize = 256 << 10;

/// Applies the layer in `blob` (gzip or plain tar, told by its first bytes as containerd does) to
/// `root`; returns its diffID for the caller to check before committing. `layer` names it in
/// errors.
pub fn apply_layer(root: &Path, blob: impl Read, layer: &str) -> Result<Applied, ApplyError> {
    let read_error = |source| ApplyError::Read { layer: layer.to_owned(), source };
    let mut blob = io::BufReader::with_capacity(COPY_BUFFER, blob);
    let gzip = blob.fill_buf().map_err(read_error)?.starts_with(&[0x1f, 0x8b]);
    let plain: Box<dyn Read> = if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(blob)) } else { Box::new(blob) };
    let hashing = HashingReader::new(plain);
    let mut archive = tar::Archive::new(io::BufReader::with_capacity(COPY_BUFFER, hashing));
    Extractor::new(root, layer).run(&mut archive)?;
    // The diffID covers the whole stream, trailing zero blocks included.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_error)?;
    let (diff_id, size, _) = rest.into_inner().finish();
    Ok(Applied { diff_id, size })
}

/// The state of one layer's extraction.
struct Extractor<'a> {
    root: &'a Path,
    layer: &'a str,
    /// Paths this layer created: an opaque marker keeps them (containerd's `unpackedPaths`).
    unpacked: HashSet<PathBuf>,
    /// Directories whose times are set at the end, once nothing is created in them any more.
    dirs: Vec<(PathBuf, Times)>,
    /// The last parent directory resolved, by its cleaned name (tar entries come grouped by
    /// directory). Forgotten whenever this layer removes something or creates a symlink.
    parent: Option<(PathBuf, PathBuf)>,
    buffer: Vec<u8>,
}

/// An entry's access and modification times, in seconds and nanoseconds since the epoch.
#[derive(Clone, Copy)]
struct Times {
    atime: (i64, u32),
    mtime: (i64, u32),
}

/// What an entry asks for, read from its (PAX-extended) header.
struct Header {
    kind: EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    times: Times,
    link: Option<PathBuf>,
    device: (u32, u32),
    xattrs: Vec<(OsString, Vec<u8>)>,
}

impl<'a> Extractor<'a> {
    fn new(root: &'a Path, layer: &'a str) -> Self {
        Self { root, layer, unpacked: HashSet::new(), dirs: Vec::new(), parent: None, buffer: vec![0; COPY_BUFFER] }
    }

    fn run<R: Read>(&mut self, archive: &mut tar::Archive<R>) -> Result<(), ApplyError> {
        let layer = self.layer;
        let read_error = |source| ApplyError::Read { layer: layer.to_owned(), source };
        for entry in archive.entries().map_err(read_error)? {
            let mut entry = entry.map_err(read_error)?;
            let name = entry.path().map_err(read_error)?.into_owned();
            self.entry(&name, &mut entry).map_err(|source| ApplyError::Entry {
                layer: layer.to_owned(),
                entry: name.display().to_string(),
                source,
            })?;
        }
        for (path, times) in std::mem::take(&mut self.dirs) {
            set_times(&path, times).map_err(|source| ApplyError::Entry {
                layer: self.layer.to_owned(),
                entry: path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, name: &Path, entry: &mut tar::Entry<'_, R>) -> io::Result<()> {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            return Ok(());
        }
        let components = clean(name);
        let Some((base, parents)) = components.split_last() else { return Ok(()) }; // the root itself
        let base_bytes = base.as_bytes();
        let aufs_metadata = components[0].as_bytes().starts_with(WHITEOUT_META_PREFIX);
        if aufs_metadata && !(components.len() == 1 && base_bytes == OPAQUE_WHITEOUT) {
            return Ok(());
        }
        let parent = self.resolve_parent(parents)?;
        if parent != self.root {
            make_parents(self.root, &parent)?;
        }
        if base_bytes == OPAQUE_WHITEOUT {
            self.parent = None;
            return self.clear_lower(&parent);
        }
        if let Some(original) = base_bytes.strip_prefix(WHITEOUT_PREFIX) {
            if original.is_empty() || original == b"." || original == b".." {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "invalid whiteout name"));
            }
            self.parent = None;
            return remove_all(&parent.join(OsStr::from_bytes(original)));
        }
        let path = parent.join(base);
        let header = read_header(entry, kind)?;
        if let Ok(existing) = fs_err::symlink_metadata(&path)
            && !(existing.is_dir() && kind.is_dir())
        {
            self.parent = None;
            remove_all(&path)?;
        }
        self.create(&path, &header, entry)?;
        if kind.is_dir() {
            self.dirs.push((path.clone(), header.times));
        }
        self.unpacked.insert(path);
        Ok(())
    }

    /// `createTarFile`: the object, then owner, xattrs, mode and times.
    fn create(&mut self, path: &Path, header: &Header, data: &mut impl Read) -> io::Result<()> {
        let kind = header.kind;
        if kind.is_dir() {
            if !fs_err::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
                std::fs::DirBuilder::new().mode(header.mode & 0o7777).create(path).map_err(|e| named(e, path))?;
            }
        } else if kind.is_file() || kind.is_gnu_sparse() {
            let mut file = fs_err::OpenOptions::new().write(true).create(true).truncate(true).mode(header.mode & 0o7777).open(path)?;
            loop {
                let n = data.read(&mut self.buffer)?;
                if n == 0 {
                    break;
                }
                file.write_all(&self.buffer[..n])?;
            }
        } else if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            let file_type = match () {
                () if kind.is_block_special() => FileType::BlockDevice,
                () if kind.is_character_special() => FileType::CharacterDevice,
                () => FileType::Fifo,
            };
            let device = rustix::fs::makedev(header.device.0, header.device.1);
            rustix::fs::mknodat(CWD, path, file_type, Mode::from_raw_mode(header.mode & 0o7777), device)
                .map_err(|e| named(e.into(), path))?;
        } else if kind.is_hard_link() {
            let target = header.link.as_deref().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "hard link without a target"))?;
            let target = resolve(self.root, &clean(target))?;
            fs_err::hard_link(target, path)?;
        } else if kind.is_symlink() {
            let target = header.link.as_deref().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "symlink without a target"))?;
            self.parent = None;
            fs_err::os::unix::fs::symlink(target, path)?;
        } else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("unhandled tar entry type {:?}", kind.as_byte() as char)));
        }
        fs_err::os::unix::fs::lchown(path, Some(header.uid), Some(header.gid))?;
        for (name, value) in &header.xattrs {
            match rustix::fs::lsetxattr(path, name.as_os_str(), value, XattrFlags::empty()) {
                Err(rustix::io::Errno::NOTSUP) => {
                    tracing::warn!(path = %path.display(), xattr = ?name, "xattr not supported here, ignored")
                }
                other => other.map_err(|e| named(e.into(), path))?,
            }
        }
        // There is no lchmod: a symlink's mode is left alone, and so is that of a hard link to
        // one. A hard link's header mode is set on the inode it shares, as containerd does (the
        // chown above cleared any setuid bit).
        let link_to_symlink = kind.is_hard_link() && fs_err::symlink_metadata(path)?.file_type().is_symlink();
        if !kind.is_symlink() && !link_to_symlink {
            rustix::fs::chmod(path, Mode::from_raw_mode(header.mode & 0o7777)).map_err(|e| named(e.into(), path))?;
        }
        set_times(path, header.times)
    }

    /// The parent directory of an entry, resolved inside the root.
    fn resolve_parent(&mut self, parents: &[OsString]) -> io::Result<PathBuf> {
        let key: PathBuf = parents.iter().collect();
        if let Some((cached, resolved)) = &self.parent
            && *cached == key
        {
            return Ok(resolved.clone());
        }
        let resolved = resolve(self.root, parents)?;
        self.parent = Some((key, resolved.clone()));
        Ok(resolved)
    }

    /// An opaque marker in `dir`: delete everything below it that this layer did not create.
    fn clear_lower(&self, dir: &Path) -> io::Result<()> {
        for child in fs_err::read_dir(dir)? {
            let child = child?;
            let path = child.path();
            if !self.unpacked.contains(&path) {
                remove_all(&path)?;
            } else if child.file_type()?.is_dir() {
                self.clear_lower(&path)?;
            }
        }
        Ok(())
    }
}

/// The header fields containerd uses, PAX records taking precedence (as Go's archive/tar).
fn read_header<R: Read>(entry: &mut tar::Entry<'_, R>, kind: EntryType) -> io::Result<Header> {
    let raw = entry.header();
    let old = raw.as_old();
    let mut header = Header {
        kind,
        mode: numeric(raw.mode(), &old.mode)?,
        uid: u32::try_from(numeric(raw.uid(), &old.uid)?).map_err(|_| invalid("uid out of range"))?,
        gid: u32::try_from(numeric(raw.gid(), &old.gid)?).map_err(|_| invalid("gid out of range"))?,
        times: Times { atime: (0, 0), mtime: (i64::try_from(numeric(raw.mtime(), &old.mtime)?).unwrap_or(0), 0) },
        link: entry.link_name()?.map(|l| l.into_owned()),
        device: (0, 0),
        xattrs: Vec::new(),
    };
    // Only device entries have numbers; other writers leave the fields blank.
    if kind.is_block_special() || kind.is_character_special() {
        header.device = (raw.device_major()?.unwrap_or(0), raw.device_minor()?.unwrap_or(0));
    }
    if let Some(gnu) = raw.as_gnu()
        && let Ok(atime) = gnu.atime()
    {
        header.times.atime = (i64::try_from(atime).unwrap_or(0), 0);
    }
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let (key, value) = (extension.key_bytes(), extension.value_bytes());
            let text = std::str::from_utf8(value).unwrap_or_default();
            match key {
                b"uid" => header.uid = text.parse().map_err(|_| invalid("PAX uid"))?,
                b"gid" => header.gid = text.parse().map_err(|_| invalid("PAX gid"))?,
                b"mtime" => header.times.mtime = pax_time(text)?,
                b"atime" => header.times.atime = pax_time(text)?,
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        header.xattrs.push((OsStr::from_bytes(name).to_owned(), value.to_vec()));
                    }
                }
            }
        }
    }
    // Go's `latestTime(atime, mtime)` and `boundTime`: never before the epoch.
    if header.times.atime < header.times.mtime {
        header.times.atime = header.times.mtime;
    }
    for time in [&mut header.times.atime, &mut header.times.mtime] {
        if time.0 < 0 {
            *time = (0, 0);
        }
    }
    Ok(header)
}

/// A numeric header field; blank (spaces and NULs) is 0, as Go's archive/tar reads it.
fn numeric<T: Default>(parsed: io::Result<T>, field: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        other => other,
    }
}

/// A PAX time: decimal seconds, optionally with a fraction.
fn pax_time(text: &str) -> io::Result<(i64, u32)> {
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().map_err(|_| invalid("PAX time"))?;
    let digits: String = fraction.chars().take(9).collect();
    let nanos = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().map_err(|_| invalid("PAX time"))? };
    // "-1.5" is 1.5 s before the epoch; bounded to the epoch anyway.
    Ok(if text.starts_with('-') { (seconds.min(-1), 0) } else { (seconds, nanos) })
}

fn set_times(path: &Path, times: Times) -> io::Result<()> {
    let spec = |(tv_sec, tv_nsec): (i64, u32)| rustix::fs::Timespec { tv_sec, tv_nsec: tv_nsec.into() };
    let timestamps = Timestamps { last_access: spec(times.atime), last_modification: spec(times.mtime) };
    rustix::fs::utimensat(CWD, path, &timestamps, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| named(e.into(), path))
}

/// `error`, naming `path`.
fn named(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("invalid {what}"))
}

#[cfg(test)]
mod tests;
