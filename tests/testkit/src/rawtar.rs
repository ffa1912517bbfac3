//! Tar archives written and read entry by entry, byte for byte, so that tests can express what
//! no well-behaved writer produces: hostile names, links, devices, sizes that lie, duplicates,
//! PAX and GNU extension headers, foreign header formats, bad checksums.

use std::io::{self, Write};

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// One raw tar entry.
pub struct Raw {
    /// Name bytes, as written in the header's name field (at most 100).
    pub name: Vec<u8>,
    /// Entry type.
    pub kind: tar::EntryType,
    /// Content.
    pub data: Vec<u8>,
    /// Link target, for links.
    pub link: Vec<u8>,
    /// Size written in the header, when it should lie.
    pub header_size: Option<u64>,
    /// Changes the header's bytes before its checksum is computed (magic, mode, size fields…).
    pub edit: Option<fn(&mut [u8; BLOCK])>,
    /// Writes a checksum one off from the right one.
    pub bad_checksum: bool,
}

impl Raw {
    /// A regular file.
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self::other(name.as_bytes(), tar::EntryType::Regular, data.to_vec(), b"")
    }

    /// Any kind of entry.
    pub fn other(name: &[u8], kind: tar::EntryType, data: Vec<u8>, link: &[u8]) -> Self {
        Self { name: name.to_vec(), kind, data, link: link.to_vec(), header_size: None, edit: None, bad_checksum: false }
    }

    /// A PAX extended header (`x`) with these records, named as tar-rs and Python name them.
    pub fn pax(records: &[(&str, &str)]) -> Self {
        Self::other(b"././@PaxHeader", tar::EntryType::XHeader, pax_records(records), b"")
    }

    /// A PAX global header (`g`).
    pub fn pax_global(records: &[(&str, &str)]) -> Self {
        Self::other(b"././@PaxHeader", tar::EntryType::XGlobalHeader, pax_records(records), b"")
    }

    /// A GNU long name (`L`) or long link name (`K`) header holding `name`.
    pub fn gnu_long(kind: tar::EntryType, name: &[u8]) -> Self {
        let mut data = name.to_vec();
        data.push(0);
        Self::other(b"././@LongLink", kind, data, b"")
    }

    /// The name, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The entry's 512-byte ustar header.
    pub fn header(&self) -> [u8; BLOCK] {
        header(&self.name, self.kind, self.header_size.unwrap_or(self.data.len() as u64), &self.link, self.edit, self.bad_checksum)
    }
}

/// PAX records: `<len> <key>=<value>\n`, where `<len>` counts the whole record.
pub fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

/// A ustar header (magic `ustar\0`, version `00`), mode 0644, root-owned, mtime 0.
pub fn header(
    name: &[u8],
    kind: tar::EntryType,
    size: u64,
    link: &[u8],
    edit: Option<fn(&mut [u8; BLOCK])>,
    bad_checksum: bool,
) -> [u8; BLOCK] {
    let mut header = tar::Header::new_ustar();
    let old = header.as_old_mut();
    old.name[..name.len()].copy_from_slice(name);
    old.linkname[..link.len()].copy_from_slice(link);
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    let mut bytes = *header.as_bytes();
    if let Some(edit) = edit {
        edit(&mut bytes);
    }
    let mut checksum = checksum(&bytes);
    if bad_checksum {
        checksum += 1;
    }
    bytes[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());
    bytes
}

/// The header checksum: the sum of its bytes, the checksum field counted as spaces.
pub fn checksum(header: &[u8; BLOCK]) -> u32 {
    header.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(b) }).sum()
}

/// An uncompressed tar of `entries`, ended by two zero blocks.
pub fn write(entries: &[Raw]) -> Vec<u8> {
    let mut tar = Vec::new();
    for e in entries {
        tar.extend_from_slice(&e.header());
        tar.extend_from_slice(&e.data);
        tar.resize(tar.len().div_ceil(BLOCK) * BLOCK, 0);
    }
    tar.extend_from_slice(&[0u8; 2 * BLOCK]);
    tar
}

/// Streams an entry of `size` zero bytes (padded to a block) under `header`, without holding
/// it in memory: for entries of gigabytes.
pub fn write_zeros(out: &mut impl Write, header: &[u8; BLOCK], size: u64) -> io::Result<()> {
    out.write_all(header)?;
    let chunk = [0u8; 64 * 1024];
    let mut left = size.div_ceil(BLOCK as u64) * BLOCK as u64;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
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

/// Every header block of an uncompressed tar, in order, up to the end-of-archive marker, found
/// by the sizes in the headers alone (no extension interpreted).
pub fn headers(tar_bytes: &[u8]) -> Vec<[u8; BLOCK]> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + BLOCK <= tar_bytes.len() {
        let block: [u8; BLOCK] = tar_bytes[at..at + BLOCK].try_into().expect("one block");
        if block.iter().all(|&b| b == 0) {
            break;
        }
        let size = std::str::from_utf8(&block[124..135]).ok().and_then(|s| u64::from_str_radix(s, 8).ok()).expect("octal size");
        out.push(block);
        at += BLOCK + (size as usize).div_ceil(BLOCK) * BLOCK;
    }
    out
}
