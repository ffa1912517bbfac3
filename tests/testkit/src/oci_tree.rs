//! Layers with every kind of OCI tar entry (directories, symlinks, hard links, devices, fifos,
//! whiteouts, opaque markers, owners, setuid modes, mtimes, `SCHILY.xattr.*` records such as a
//! file capability), and a listing of an unpacked tree to compare two appliers' results with.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::image::{Layer, sha256};

/// One entry of a layer.
#[derive(Clone)]
pub enum Node {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    HardLink {
        path: String,
        target: String,
    },
    Fifo {
        path: String,
    },
    CharDevice {
        path: String,
        major: u32,
        minor: u32,
    },
    /// `.wh.NAME` next to `path`: deletes `path` from the layers below.
    Whiteout {
        path: String,
    },
    /// `DIR/.wh..wh..opq`: hides what the layers below hold in `dir`.
    Opaque {
        dir: String,
    },
}

/// An entry with its owner, mtime and extended attributes.
#[derive(Clone)]
pub struct Entry {
    pub node: Node,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl From<Node> for Entry {
    fn from(node: Node) -> Self {
        Self { node, uid: 0, gid: 0, mtime: 1_700_000_000, xattrs: Vec::new() }
    }
}

impl Entry {
    pub fn owner(self, uid: u64, gid: u64) -> Self {
        Self { uid, gid, ..self }
    }

    pub fn mtime(self, mtime: u64) -> Self {
        Self { mtime, ..self }
    }

    pub fn xattr(mut self, name: &str, value: &[u8]) -> Self {
        self.xattrs.push((name.to_owned(), value.to_vec()));
        self
    }
}

/// A `security.capability` value (VFS_CAP_REVISION_2) granting `cap_net_bind_service` (bit 10),
/// permitted and effective, as `setcap cap_net_bind_service+ep` writes it.
pub fn net_bind_service_capability() -> Vec<u8> {
    let mut value = Vec::new();
    value.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes()); // revision 2, effective
    value.extend_from_slice(&(1u32 << 10).to_le_bytes()); // permitted, low word
    value.extend_from_slice(&0u32.to_le_bytes()); // inheritable, low word
    value.extend_from_slice(&0u32.to_le_bytes()); // permitted, high word
    value.extend_from_slice(&0u32.to_le_bytes()); // inheritable, high word
    value
}

/// A gzip layer of `entries`, in order, with PAX headers for xattrs.
pub fn layer(entries: &[Entry]) -> Layer {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        append(&mut tar, entry);
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    Layer { diff_id: sha256(&raw), digest: sha256(&gz), gz }
}

fn append(tar: &mut tar::Builder<Vec<u8>>, entry: &Entry) {
    use tar::EntryType as T;
    let whiteout = |path: &str| match path.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/.wh.{base}"),
        None => format!(".wh.{path}"),
    };
    /// Name, type, contents, mode, link target, device numbers.
    type Shape<'a> = (String, T, &'a [u8], u32, Option<&'a str>, Option<(u32, u32)>);
    let (path, kind, data, mode, link, device): Shape<'_> = match &entry.node {
        Node::File { path, data, mode } => (path.clone(), T::Regular, data, *mode, None, None),
        Node::Dir { path, mode } => (path.clone(), T::Directory, &[], *mode, None, None),
        Node::Symlink { path, target } => (path.clone(), T::Symlink, &[], 0o777, Some(target), None),
        Node::HardLink { path, target } => (path.clone(), T::Link, &[], 0o644, Some(target), None),
        Node::Fifo { path } => (path.clone(), T::Fifo, &[], 0o644, None, None),
        Node::CharDevice { path, major, minor } => (path.clone(), T::Char, &[], 0o666, None, Some((*major, *minor))),
        Node::Whiteout { path } => (whiteout(path), T::Regular, &[], 0o644, None, None),
        Node::Opaque { dir } => (format!("{dir}/.wh..wh..opq"), T::Regular, &[], 0o644, None, None),
    };
    if !entry.xattrs.is_empty() {
        let mut records = Vec::new();
        for (name, value) in &entry.xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{name}"), value));
        }
        let mut pax = tar::Header::new_ustar();
        pax.set_entry_type(T::XHeader);
        pax.set_size(records.len() as u64);
        pax.set_mode(0o644);
        tar.append_data(&mut pax, "PaxHeaders/entry", &records[..]).unwrap();
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(mode);
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(entry.mtime);
    if let Some((major, minor)) = device {
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
    }
    match link {
        Some(target) => tar.append_link(&mut header, &path, target).unwrap(),
        None => tar.append_data(&mut header, &path, data).unwrap(),
    }
}

/// `"<len> key=value\n"`, where len counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// What a tree holds, one line per path below `root` (sorted): type, mode (setuid bits too),
/// owner, size, sha256 of file contents, symlink target, device numbers, xattrs, hard-link
/// group (the first path of the same inode), and mtime of everything but directories (whose
/// mtimes change whenever something is created in them).
pub fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    let mut paths = Vec::new();
    while let Some(dir) = stack.pop() {
        for child in fs_err::read_dir(&dir).unwrap() {
            let path = child.unwrap().path();
            if fs_err::symlink_metadata(&path).unwrap().is_dir() {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    for path in paths {
        let meta = fs_err::symlink_metadata(&path).unwrap();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            "dir".to_owned()
        } else if ft.is_symlink() {
            format!("symlink->{}", fs_err::read_link(&path).unwrap().display())
        } else if ft.is_file() {
            format!("file size={} sha256={}", meta.len(), hex::encode(Sha256::digest(fs_err::read(&path).unwrap())))
        } else if ft.is_fifo() {
            "fifo".to_owned()
        } else if ft.is_char_device() {
            format!("char {}:{}", rustix::fs::major(meta.rdev()), rustix::fs::minor(meta.rdev()))
        } else if ft.is_block_device() {
            format!("block {}:{}", rustix::fs::major(meta.rdev()), rustix::fs::minor(meta.rdev()))
        } else {
            "other".to_owned()
        };
        let mut line = format!("{kind} mode={:o} owner={}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid());
        if !ft.is_dir() {
            line += &format!(" mtime={}", meta.mtime());
        }
        if ft.is_file() && meta.nlink() > 1 {
            let first = inodes.entry((meta.dev(), meta.ino())).or_insert_with(|| name.clone());
            line += &format!(" linked-with={first}");
        }
        for (key, value) in xattrs(&path) {
            line += &format!(" xattr:{key}={}", hex::encode(value));
        }
        out.insert(name, line);
    }
    out
}

/// The extended attributes of `path` (not following a symlink), sorted.
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 64 << 10];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap();
    let mut out = BTreeMap::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut value = vec![0u8; 64 << 10];
        let len = rustix::fs::lgetxattr(path, name.as_str(), &mut value[..]).unwrap();
        value.truncate(len);
        out.insert(name, value);
    }
    out
}
