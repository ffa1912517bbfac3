//! Raw ustar, read and written by hand: 512-byte headers whose every field we check, so that no
//! tar extension (PAX records, GNU long names, sparse maps, base-256 numbers) is ever
//! interpreted for us, and so that the writer can only emit what the reader accepts.
//!
//! The reader accepts only plain POSIX ustar regular files (type `0`, magic `ustar\0`, version
//! `00`, valid checksum, octal numbers, permission bits only), zero-filled padding, the
//! end-of-archive marker (two zero blocks) and after it at most the zeros GNU tar pads its last
//! 10240-byte record with. Nothing it reads is kept beyond one header block.

use std::io::{self, Read};
use std::ops::Range;

use crate::reader::VerifyError;

/// A tar block.
pub const BLOCK: usize = 512;
/// GNU tar's default record (blocking factor 20): it pads an archive to a multiple of it.
pub const RECORD: u64 = 20 * BLOCK as u64;
/// The largest number an 11-digit octal field (size, mtime) holds: 8 GiB - 1.
pub const MAX_OCTAL: u64 = 0o777_7777_7777;
/// Extension data up to this size is skipped to name the entry it precedes; larger ones are
/// refused without reading them.
const LOOKAHEAD: u64 = 64 * 1024;

const NAME: Range<usize> = 0..100;
const MODE: Range<usize> = 100..108;
const UID: Range<usize> = 108..116;
const GID: Range<usize> = 116..124;
const SIZE: Range<usize> = 124..136;
const MTIME: Range<usize> = 136..148;
const CHECKSUM: Range<usize> = 148..156;
const TYPE: usize = 156;
const MAGIC: Range<usize> = 257..265;
const PREFIX: Range<usize> = 345..500;
const USTAR: &[u8; 8] = b"ustar\x0000";

/// A header the writer cannot produce.
#[derive(Debug)]
pub(crate) enum HeaderError {
    /// The name fits neither the name field nor a `/`-split into prefix and name.
    Name,
    /// Larger than [`MAX_OCTAL`].
    Size,
}

/// The one header shape bundles have: a regular file, `mode`, root-owned, `mtime`, no user or
/// group names, named `path` (split into prefix and name beyond 100 bytes, as ustar does).
/// Byte for byte what tar-rs writes for the same fields.
pub(crate) fn header(path: &str, size: u64, mode: u32, mtime: u64) -> Result<[u8; BLOCK], HeaderError> {
    if size > MAX_OCTAL || mtime > MAX_OCTAL {
        return Err(HeaderError::Size);
    }
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_name(path.as_bytes()).ok_or(HeaderError::Name)?;
    h[NAME][..name.len()].copy_from_slice(name);
    h[PREFIX][..prefix.len()].copy_from_slice(prefix);
    octal_into(&mut h[MODE], u64::from(mode));
    octal_into(&mut h[UID], 0);
    octal_into(&mut h[GID], 0);
    octal_into(&mut h[SIZE], size);
    octal_into(&mut h[MTIME], mtime);
    h[TYPE] = b'0';
    h[MAGIC].copy_from_slice(USTAR);
    let sum = checksum(&h);
    octal_into(&mut h[CHECKSUM], u64::from(sum));
    Ok(h)
}

/// `(prefix, name)`: the whole path in `name` if it fits, else split at the last `/` that
/// leaves a prefix of at most 155 bytes, when the rest fits the 100 of `name`.
fn split_name(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= NAME.len() {
        return Some((&[], path));
    }
    let cut = path.iter().take(PREFIX.len() + 1).rposition(|&b| b == b'/')?;
    let (prefix, name) = (&path[..cut], &path[cut + 1..]);
    (!prefix.is_empty() && !name.is_empty() && name.len() <= NAME.len()).then_some((prefix, name))
}

/// Right-aligned zero-filled octal digits and a final NUL, as tar-rs writes them.
fn octal_into(field: &mut [u8], mut value: u64) {
    if let Some((last, digits)) = field.split_last_mut() {
        *last = 0;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (value % 8) as u8;
            value /= 8;
        }
    }
}

/// The unsigned sum of the header's bytes, the checksum field counted as spaces.
fn checksum(h: &[u8; BLOCK]) -> u32 {
    let spaces = CHECKSUM.len() as u32 * u32::from(b' ');
    h.iter().map(|&b| u32::from(b)).sum::<u32>() - h[CHECKSUM].iter().map(|&b| u32::from(b)).sum::<u32>() + spaces
}

/// A numeric field as POSIX writes it: optional leading spaces, octal digits, then only NULs
/// or spaces. GNU's base-256 form (high bit set) is an extension and is refused.
fn octal(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ')?;
    let digits = field[start..].iter().take_while(|b| (b'0'..=b'7').contains(b)).count();
    if digits == 0 || !field[start + digits..].iter().all(|&b| b == 0 || b == b' ') {
        return None;
    }
    field[start..start + digits].iter().try_fold(0u64, |n, &d| n.checked_mul(8)?.checked_add(u64::from(d - b'0')))
}

fn until_nul(field: &[u8]) -> &[u8] {
    field.iter().position(|&b| b == 0).map_or(field, |end| &field[..end])
}

/// The name tar gives a header: `prefix/name` for ustar, the name field for other formats.
fn raw_name(h: &[u8; BLOCK]) -> Vec<u8> {
    let (name, prefix) = (until_nul(&h[NAME]), until_nul(&h[PREFIX]));
    if &h[MAGIC] != USTAR || prefix.is_empty() {
        return name.to_vec();
    }
    [prefix, b"/", name].concat()
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// What a non-`0` type byte is.
fn kind_name(kind: u8) -> String {
    match kind {
        b'1' => "hard link".into(),
        b'2' => "symbolic link".into(),
        b'3' | b'4' => "device".into(),
        b'5' => "directory".into(),
        b'6' => "fifo".into(),
        b'7' => "contiguous file".into(),
        b'S' => "GNU sparse file".into(),
        b'D' => "GNU directory dump".into(),
        b'M' => "GNU multi-volume continuation".into(),
        b'N' => "GNU old long name".into(),
        b'V' => "GNU volume label".into(),
        0 => "pre-POSIX regular file (type NUL)".into(),
        b if b.is_ascii_graphic() => format!("non-regular entry (type '{}')", b as char),
        b => format!("non-regular entry (type {b:#04x})"),
    }
}

/// Headers that change how the next header is read.
fn extension_name(kind: u8) -> Option<&'static str> {
    match kind {
        b'x' => Some("PAX extended header"),
        b'g' => Some("PAX global header"),
        b'L' => Some("GNU long name header"),
        b'K' => Some("GNU long link name header"),
        _ => None,
    }
}

fn format_name(magic: &[u8]) -> String {
    match magic {
        b"ustar  \0" => "a GNU tar".into(),
        m if m.iter().all(|&b| b == 0) => "a pre-POSIX (v7) tar".into(),
        m => format!("an unrecognised (magic `{}`, version `{}`)", m[..6].escape_ascii(), m[6..].escape_ascii()),
    }
}

/// A regular file's header, checked.
pub(crate) struct FileHeader {
    /// The entry's name, valid UTF-8.
    pub name: String,
    /// Its data size.
    pub size: u64,
}

/// Reads a ustar stream block by block, tracking the position for the padding rule.
pub(crate) struct Archive<R> {
    inner: R,
    position: u64,
}

fn corrupt(at: &str, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> VerifyError {
    VerifyError::Corrupt { at: at.to_owned(), cause: io::Error::new(io::ErrorKind::InvalidData, cause) }
}

impl<R: Read> Archive<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, position: 0 }
    }

    fn block(&mut self, at: &str) -> Result<[u8; BLOCK], VerifyError> {
        let mut block = [0u8; BLOCK];
        self.inner.read_exact(&mut block).map_err(|cause| VerifyError::Corrupt { at: at.to_owned(), cause })?;
        self.position += BLOCK as u64;
        Ok(block)
    }

    fn skip(&mut self, size: u64, at: &str) -> Result<(), VerifyError> {
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let copied = io::copy(&mut (&mut self.inner).take(padded), &mut io::sink())
            .map_err(|cause| VerifyError::Corrupt { at: at.to_owned(), cause })?;
        self.position += copied;
        if copied < padded {
            return Err(VerifyError::Corrupt { at: at.to_owned(), cause: io::ErrorKind::UnexpectedEof.into() });
        }
        Ok(())
    }

    /// The next entry's header, or `None` at the end-of-archive marker. `after` is the last
    /// entry read (`None` before the first), for errors about headers that have no usable name.
    pub(crate) fn next(&mut self, after: Option<&str>) -> Result<Option<FileHeader>, VerifyError> {
        let at = after.unwrap_or("start");
        let h = self.block(at)?;
        if h.iter().all(|&b| b == 0) {
            return match self.block(at)? {
                b if b.iter().all(|&b| b == 0) => Ok(None),
                _ => Err(VerifyError::TrailingData),
            };
        }
        if octal(&h[CHECKSUM]) != Some(u64::from(checksum(&h))) {
            return Err(corrupt(at, "the header after this entry has a bad checksum"));
        }
        if let Some(kind) = extension_name(h[TYPE]) {
            return Err(self.extension(kind, &h, after));
        }
        let name = raw_name(&h);
        if h[TYPE] != b'0' {
            return Err(VerifyError::NotRegular { path: lossy(&name), kind: kind_name(h[TYPE]) });
        }
        if &h[MAGIC] != USTAR {
            return Err(VerifyError::NotUstar { path: lossy(&name), format: format_name(&h[MAGIC]) });
        }
        let name =
            String::from_utf8(name).map_err(|e| VerifyError::Path(crate::entry_path::EntryPathError::NotNormal(lossy(e.as_bytes()))))?;
        let size = octal(&h[SIZE]).ok_or_else(|| corrupt(&name, "header size field is not an octal number"))?;
        let mode = octal(&h[MODE]).ok_or_else(|| corrupt(&name, "header mode field is not an octal number"))?;
        if mode > 0o777 {
            return Err(VerifyError::Mode { path: name, mode });
        }
        Ok(Some(FileHeader { name, size }))
    }

    /// The error for an extension header: naming the entry it precedes when its data is small
    /// enough to skip, else the entry before it. Nothing of it is kept.
    fn extension(&mut self, kind: &'static str, h: &[u8; BLOCK], after: Option<&str>) -> VerifyError {
        let at = after.unwrap_or("start");
        let Some(size) = octal(&h[SIZE]) else {
            return corrupt(at, format!("{kind} size field is not an octal number"));
        };
        let unnamed = || VerifyError::Extension { kind, size, path: None, after: after.map(str::to_owned) };
        if size > LOOKAHEAD {
            return unnamed();
        }
        if let Err(e) = self.skip(size, at) {
            return e;
        }
        match self.block(at) {
            Ok(next) if !next.iter().all(|&b| b == 0) && octal(&next[CHECKSUM]) == Some(u64::from(checksum(&next))) => {
                VerifyError::Extension { kind, size, path: Some(lossy(&raw_name(&next))), after: after.map(str::to_owned) }
            }
            _ => unnamed(),
        }
    }

    /// The data of the entry whose header was just read: read exactly `size` bytes from it,
    /// then call [`Archive::end_entry`].
    pub(crate) fn data(&mut self, size: u64) -> io::Take<&mut R> {
        (&mut self.inner).take(size)
    }

    /// Reads the zero padding after an entry of `size` bytes whose data was read.
    pub(crate) fn end_entry(&mut self, name: &str, size: u64) -> Result<(), VerifyError> {
        let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        let mut buf = [0u8; BLOCK];
        self.inner.read_exact(&mut buf[..padding]).map_err(|cause| VerifyError::Corrupt { at: name.to_owned(), cause })?;
        if buf.iter().any(|&b| b != 0) {
            return Err(corrupt(name, "non-zero bytes in the padding after the entry"));
        }
        self.position += size + padding as u64;
        Ok(())
    }

    /// After the end-of-archive marker: reads to the end of the stream, which may only hold
    /// zeros up to the end of GNU tar's record, and returns the stream.
    pub(crate) fn finish(mut self) -> Result<R, VerifyError> {
        let limit = self.position.div_ceil(RECORD) * RECORD - self.position;
        let mut buf = [0u8; 16 * 1024];
        let mut padding = 0u64;
        loop {
            let n = match self.inner.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(cause) => return Err(VerifyError::Corrupt { at: "end of archive".into(), cause }),
            };
            if n == 0 {
                return Ok(self.inner);
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(VerifyError::TrailingData);
            }
            padding += n as u64;
            if padding > limit {
                return Err(VerifyError::Padding { limit });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_rs(path: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime);
        h.set_path(path).unwrap();
        h.set_cksum();
        *h.as_bytes()
    }

    #[test]
    fn headers_are_byte_for_byte_what_tar_rs_writes() {
        let long = format!("oci/{}/{}", "d".repeat(150), "f".repeat(99));
        for (path, size, mtime) in
            [("airbundle.json", 1234, 0), ("oci/blobs/sha256/ab", MAX_OCTAL, 1_700_000_000), (&long[..], 0, MAX_OCTAL)]
        {
            assert_eq!(header(path, size, 0o644, mtime).unwrap(), tar_rs(path, size, mtime), "{path}");
        }
    }

    #[test]
    fn names_split_like_ustar_or_are_refused() {
        assert_eq!(split_name(b"a/b"), Some((&b""[..], &b"a/b"[..])));
        let p = format!("{}/{}", "p".repeat(155), "n".repeat(100));
        assert_eq!(split_name(p.as_bytes()), Some((&p.as_bytes()[..155], &p.as_bytes()[156..])));
        for bad in [
            "x".repeat(101),
            format!("{}/{}", "p".repeat(156), "n"),
            format!("{}/{}", "p".repeat(10), "n".repeat(101)),
            format!("/{}", "n".repeat(100)),
        ] {
            assert!(split_name(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(matches!(header("a", MAX_OCTAL + 1, 0o644, 0), Err(HeaderError::Size)));
    }

    #[test]
    fn numbers_are_plain_octal() {
        assert_eq!(octal(b"0000644\0"), Some(0o644));
        assert_eq!(octal(b"  644 \0\0"), Some(0o644));
        assert_eq!(octal(b"00000000033\0"), Some(27));
        for bad in [&b"\x80\0\0\0\0\0\0\x1b"[..], b"\0\0\0\0", b"0008\0", b"12 3\0", b"        "] {
            assert_eq!(octal(bad), None, "{bad:?}");
        }
    }
}
