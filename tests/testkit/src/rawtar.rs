//! Tar archives written and read entry by entry, byte for byte, so that tests can express what
//! no well-behaved writer produces: hostile names, links, devices, sizes that lie, duplicates.

/// One raw tar entry.
pub struct Raw {
    /// Name bytes, as written in the header (at most 100).
    pub name: Vec<u8>,
    /// Entry type.
    pub kind: tar::EntryType,
    /// Content.
    pub data: Vec<u8>,
    /// Link target, for links.
    pub link: Vec<u8>,
    /// Size written in the header, when it should lie.
    pub header_size: Option<u64>,
}

impl Raw {
    /// A regular file.
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self::other(name.as_bytes(), tar::EntryType::Regular, data.to_vec(), b"")
    }

    /// Any kind of entry.
    pub fn other(name: &[u8], kind: tar::EntryType, data: Vec<u8>, link: &[u8]) -> Self {
        Self { name: name.to_vec(), kind, data, link: link.to_vec(), header_size: None }
    }

    /// The name, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// An uncompressed tar of `entries`, GNU headers, mode 0644, ended by two zero blocks.
pub fn write(entries: &[Raw]) -> Vec<u8> {
    let mut tar = Vec::new();
    for e in entries {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(&e.name);
        old.linkname[..e.link.len()].copy_from_slice(&e.link);
        header.set_entry_type(e.kind);
        header.set_size(e.header_size.unwrap_or(e.data.len() as u64));
        header.set_mode(0o644);
        header.set_cksum();
        tar.extend_from_slice(header.as_bytes());
        tar.extend_from_slice(&e.data);
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

/// The entries of an uncompressed tar (regular files only, as bundles hold).
pub fn read(tar_bytes: &[u8]) -> Vec<Raw> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).expect("tar entry data");
        out.push(Raw::other(&name, kind, data, b""));
    }
    out
}
