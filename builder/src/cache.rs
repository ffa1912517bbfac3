//! The on-disk blob cache: content-addressed by sha256, filled atomically, shared by builds and
//! architectures, so a second build pulls only what is new.

use std::io;
use std::path::{Path, PathBuf};

use bundle::Digest;

/// A blob cache directory: `<dir>/blobs/sha256/<hex>`, temporary files in `<dir>/tmp/`.
#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// Opens (creating) the cache at `dir`.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs_err::create_dir_all(dir.join("blobs/sha256"))?;
        fs_err::create_dir_all(dir.join("tmp"))?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// The default location: `$XDG_CACHE_HOME/airbundle`, else `~/.cache/airbundle`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("airbundle"))
    }

    /// Where the blob `digest` lives once cached.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// True when the blob is cached with the expected size. Content is re-hashed when it is
    /// packed, so a corrupted file is caught there.
    pub fn contains(&self, digest: &Digest, size: u64) -> bool {
        fs_err::metadata(self.path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// True when a blob named `digest` is cached (binaries: their size is not known before the
    /// download; packing hashes them again).
    pub fn has(&self, digest: &Digest) -> bool {
        fs_err::metadata(self.path(digest)).is_ok_and(|m| m.is_file())
    }

    /// A new temporary file next to the blobs, removed on drop unless persisted.
    pub fn temp_file(&self) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix("pull-").tempfile_in(self.dir.join("tmp"))
    }

    /// Moves a verified temporary file to its content address.
    pub fn persist(&self, file: tempfile::NamedTempFile, digest: &Digest) -> io::Result<()> {
        let path = self.path(digest);
        file.persist(&path)
            .map_err(|e| io::Error::new(e.error.kind(), format!("failed to store cache blob `{}`: {}", path.display(), e.error)))?;
        Ok(())
    }

    /// Stores small verified bytes (manifests, configs) under their digest.
    pub fn store_bytes(&self, digest: &Digest, bytes: &[u8]) -> io::Result<()> {
        if self.contains(digest, bytes.len() as u64) {
            return Ok(());
        }
        let mut file = self.temp_file()?;
        io::Write::write_all(&mut file, bytes)?;
        self.persist(file, digest)
    }

    /// Removes a blob found corrupted, so the next build pulls it again.
    pub fn evict(&self, digest: &Digest) -> io::Result<()> {
        match fs_err::remove_file(self.path(digest)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
