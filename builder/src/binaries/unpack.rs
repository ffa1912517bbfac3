//! Release archives (`crictl-….tar.gz`, `cni-plugins-….tgz`) into plain files in the blob cache:
//! every executable regular file at the top of the archive becomes a binary; directories, links,
//! documentation and anything deeper are left out, so the bundle carries regular files only. The
//! archive is hashed again as it is read, so a corrupted cache is caught.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use bundle::Digest;
use bundle::digest::HashingReader;

use super::Location;
use super::fetch::FetchError;
use crate::cache::BlobCache;

/// One binary taken from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    /// Its file name.
    pub(super) name: String,
    /// Its path in the archive (`./bridge`).
    pub(super) member: String,
    /// sha256 of its bytes (its cache address).
    pub(super) sha256: Digest,
}

/// Unpacks the cached archive `sha256` (downloaded from `location`); `required` must be among
/// its executables. Members come out sorted by name.
pub(super) fn unpack(
    cache: &BlobCache,
    archive: &Path,
    sha256: &Digest,
    required: &[&str],
    location: &Location,
) -> Result<Vec<Member>, FetchError> {
    let io_err = |source| FetchError::Io { location: location.clone(), source };
    let bad = |reason: String| FetchError::Archive { location: location.clone(), reason };
    let mut hashing = HashingReader::new(io::BufReader::with_capacity(256 << 10, fs_err::File::open(archive).map_err(io_err)?));
    let mut members = Vec::new();
    {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&mut hashing));
        let mut names = BTreeSet::new();
        for entry in tar.entries().map_err(|e| bad(format!("is not a gzip-compressed tar archive: {e}")))? {
            let mut entry = entry.map_err(|e| bad(format!("is not a readable tar archive: {e}")))?;
            let header = entry.header();
            let executable = header.mode().is_ok_and(|m| m & 0o111 != 0);
            if !header.entry_type().is_file() || !executable {
                continue;
            }
            let member = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = member.strip_prefix("./").unwrap_or(&member).to_owned();
            if name.contains('/') {
                continue;
            }
            if !names.insert(name.clone()) {
                return Err(bad(format!("holds `{member}` twice")));
            }
            let mut temp = cache.temp_file().map_err(io_err)?;
            let mut reader = HashingReader::new(&mut entry);
            io::copy(&mut reader, &mut temp).map_err(|e| bad(format!("member `{member}` could not be read: {e}")))?;
            let (digest, _, _) = reader.finish();
            if !cache.has(&digest) {
                cache.persist(temp, &digest).map_err(io_err)?;
            }
            members.push(Member { name, member, sha256: digest });
        }
        if let Some(missing) = required.iter().find(|r| !members.iter().any(|m| m.name == **r)) {
            return Err(bad(format!("has no executable `{missing}` at its top level")));
        }
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(io_err)?;
    let (actual, _, _) = hashing.finish();
    if actual != *sha256 {
        let _ = cache.evict(sha256);
        return Err(bad(format!("the cached copy ({}) was corrupt and has been removed: run the build again", archive.display())));
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// Drains a reader (tests).
#[cfg(test)]
fn read_all(mut r: impl io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, u32, &[u8])], link: bool) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        builder.append_data(&mut dir, "./", io::empty()).unwrap();
        for (name, mode, data) in entries {
            // `tar -czf … .` writes `./NAME`; the tar crate's path setters drop the `./`.
            let mut header = tar::Header::new_gnu();
            header.set_mode(*mode);
            header.set_size(data.len() as u64);
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        if link {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, "./vlan", "bridge").unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn run(bytes: &[u8], required: &[&str]) -> (tempfile::TempDir, Result<Vec<Member>, FetchError>) {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let digest = Digest::of(bytes);
        let path = dir.path().join("a.tgz");
        fs_err::write(&path, bytes).unwrap();
        let result = unpack(&cache, &path, &digest, required, &Location::Http("http://x/a.tgz".into()));
        (dir, result)
    }

    #[test]
    fn takes_top_level_executables_only() {
        let bytes =
            archive(&[("./bridge", 0o755, b"b"), ("./LICENSE", 0o644, b"l"), ("./loopback", 0o755, b"lo"), ("./d/x", 0o755, b"x")], true);
        let (dir, members) = run(&bytes, &["bridge"]);
        let members = members.unwrap();
        assert_eq!(members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["bridge", "loopback"]);
        assert_eq!(members[0].member, "./bridge");
        let cache = BlobCache::open(dir.path()).unwrap();
        assert_eq!(read_all(fs_err::File::open(cache.path(&members[1].sha256)).unwrap()), b"lo");
    }

    #[test]
    fn a_missing_plugin_and_a_corrupt_cache_are_refused() {
        let bytes = archive(&[("./bridge", 0o755, b"b")], false);
        let err = run(&bytes, &["bridge", "portmap"]).1.unwrap_err().to_string();
        assert_eq!(err, "http://x/a.tgz: has no executable `portmap` at its top level");
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::open(dir.path()).unwrap();
        let path = dir.path().join("a.tgz");
        fs_err::write(&path, &bytes).unwrap();
        let err = unpack(&cache, &path, &Digest::of(b"other"), &[], &Location::Http("u".into())).unwrap_err().to_string();
        assert!(err.contains("was corrupt"), "{err}");
        let err = run(b"not gzip", &[]).1.unwrap_err().to_string();
        assert!(err.contains("http://x/a.tgz: is not"), "{err}");
    }
}
