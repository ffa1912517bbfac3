//! The packing half of a build: one architecture's manifest (blob entries, OCI layout,
//! pre-rendered configs) signed and written as a bundle with its detached signature, each blob
//! read from the cache once it is ready.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read};
use std::path::Path;

use bundle::manifest::{Binary, BuilderInfo, SCHEMA_VERSION};
use bundle::oci_layout::{self, INDEX_PATH, OCI_LAYOUT_PATH};
use bundle::writer::WriteError;
use bundle::{Digest, Entry, EntryPath, EntrySource, Image, Manifest, SigningKey, WriterOptions};

use super::{BuildError, BuildOptions, BuiltBundle, PlannedImage, Readiness};
use crate::cache::BlobCache;
use crate::output;
use crate::prerender::{self, ConfigInputs};
use crate::progress::{Bar, Progress};
use crate::registry::ResolvedImage;

/// Packing one architecture's bundle (blocking: runs on its own thread).
pub(super) struct PackJob {
    pub(super) binaries: Vec<Binary>,
    pub(super) version: String,
    pub(super) arch: String,
    pub(super) repository: String,
    pub(super) images: Vec<PlannedImage>,
    pub(super) resolved: Vec<ResolvedImage>,
    pub(super) options: BuildOptions,
}

impl PackJob {
    pub(super) fn pack(
        self,
        key: &SigningKey,
        cache: &BlobCache,
        progress: &Progress,
        ready: &Readiness,
    ) -> Result<BuiltBundle, BuildError> {
        let (manifest, small) = self.manifest(cache)?;
        let path = self.options.output_dir.join(manifest.file_name());
        let manifest_signature = key
            .sign(&manifest.to_bytes()[..], &manifest.trusted_comment())
            .map_err(|source| BuildError::Output { path: path.clone(), source })?;
        let total: u64 = manifest.entries.iter().map(|e| e.size).sum();
        let bar = progress.packing(&manifest.file_name(), total);
        let out_err = |source| BuildError::Output { path: path.clone(), source };
        let temp = output::temp_beside(&path).map_err(out_err)?;
        let file = temp.as_file().try_clone().map_err(out_err)?;
        let mut source = Source { small, cache, bar: bar.clone(), ready };
        let options = WriterOptions {
            level: self.options.zstd_level,
            workers: self.options.zstd_workers,
            mtime: self.options.source_date_epoch.unwrap_or(0),
        };
        let (writer, prehash) =
            bundle::write_bundle(BufWriter::with_capacity(256 << 10, file), options, &manifest, &manifest_signature, &mut source)
                .map_err(|e| self.write_error(e, &path, cache))?;
        drop(writer);
        output::persist(temp, &path, 0o644).map_err(out_err)?;
        let signature = path.with_extension("zst.minisig");
        output::write_atomic(&signature, key.sign_prehashed(&prehash, &manifest.file_trusted_comment()).as_bytes(), 0o644)
            .map_err(|source| BuildError::Output { path: signature.clone(), source })?;
        bar.finish("wrote");
        let size = fs_err::metadata(&path).map_err(|source| BuildError::Output { path: path.clone(), source })?.len();
        Ok(BuiltBundle { path, signature, size, manifest })
    }

    fn write_error(&self, error: WriteError, path: &Path, cache: &BlobCache) -> BuildError {
        let cached =
            |entry: &EntryPath| entry.as_str().starts_with(oci_layout::BLOBS_DIR) || self.binaries.iter().any(|b| b.path == *entry);
        if let WriteError::Mismatch { path: entry, expected, .. } = &error
            && cached(entry)
        {
            let _ = cache.evict(expected);
            return BuildError::CorruptCache { digest: *expected, path: cache.path(expected) };
        }
        BuildError::Write { path: path.to_owned(), source: Box::new(error) }
    }

    /// The manifest, and the bytes of every entry that is not a cached blob.
    fn manifest(&self, cache: &BlobCache) -> Result<(Manifest, BTreeMap<EntryPath, Vec<u8>>), BuildError> {
        let mut small: BTreeMap<EntryPath, Vec<u8>> = BTreeMap::new();
        let mut entries: BTreeMap<EntryPath, Entry> = BTreeMap::new();
        let mut images = Vec::new();
        let mut sizes: BTreeMap<Digest, u64> = self.resolved.iter().map(|r| (r.digest, r.manifest.len() as u64)).collect();
        for (planned, resolved) in self.images.iter().zip(&self.resolved) {
            let blobs: Vec<(Digest, u64)> = std::iter::once((resolved.digest, resolved.manifest.len() as u64))
                .chain(std::iter::once(&resolved.config).chain(&resolved.layers).map(|b| (b.digest, b.size)))
                .collect();
            for (digest, size) in &blobs {
                let path = oci_layout::blob_path(digest);
                entries.insert(path.clone(), Entry { path, size: *size, sha256: *digest });
            }
            let mut image = Image {
                name: planned.name.clone(),
                component: planned.component.clone(),
                digest: resolved.digest,
                media_type: resolved.media_type.clone(),
                platform: resolved.platform.clone(),
                index_digest: resolved.index_digest,
                oci_index: None,
                config: resolved.config.digest,
                layers: resolved.layers.iter().map(|l| l.digest).collect(),
                size: blobs.iter().map(|(_, s)| s).sum(),
            };
            if oci_layout::needs_oci_index(&image.media_type) {
                let wrapper = oci_layout::oci_index_bytes(&image, resolved.manifest.len() as u64);
                let digest = Digest::of(&wrapper);
                sizes.insert(digest, wrapper.len() as u64);
                small.insert(oci_layout::blob_path(&digest), wrapper);
                image.oci_index = Some(digest);
            }
            images.push(image);
        }
        small.insert(entry_path(INDEX_PATH), oci_layout::index_json_bytes(&images, |d| sizes.get(d).copied().unwrap_or_default()));
        small.insert(entry_path(OCI_LAYOUT_PATH), oci_layout::oci_layout_bytes());
        for config in prerender::render(&self.config_inputs()).map_err(BuildError::Render)? {
            small.insert(entry_path(config.path), config.contents);
        }
        for binary in &self.binaries {
            let size = fs_err::metadata(cache.path(&binary.sha256))
                .map_err(|source| BuildError::Cache { dir: cache.path(&binary.sha256), source })?
                .len();
            entries.insert(binary.path.clone(), Entry { path: binary.path.clone(), size, sha256: binary.sha256 });
        }
        for (path, bytes) in &small {
            entries.insert(path.clone(), Entry { path: path.clone(), size: bytes.len() as u64, sha256: Digest::of(bytes) });
        }
        let manifest = Manifest {
            schema_version: SCHEMA_VERSION,
            kubernetes_version: self.version.clone(),
            os: "linux".into(),
            arch: self.arch.clone(),
            image_repository: self.repository.clone(),
            builder: BuilderInfo { name: "airbundle".into(), version: env!("CARGO_PKG_VERSION").into() },
            created: bundle::manifest::rfc3339(self.options.source_date_epoch.unwrap_or(0)),
            images,
            binaries: self.binaries.clone(),
            entries: entries.into_values().collect(),
        };
        Ok((manifest, small))
    }

    fn config_inputs(&self) -> ConfigInputs<'_> {
        let tag = |component: &str| self.images.iter().find(|i| i.component == component).map(|i| i.tag.as_str()).unwrap_or_default();
        let pause = self.images.iter().find(|i| i.component == "pause").map(|i| i.name.as_str()).unwrap_or_default();
        ConfigInputs {
            kubernetes_version: &self.version,
            image_repository: &self.repository,
            etcd_tag: tag("etcd"),
            coredns_tag: tag("coredns"),
            pause_image: pause,
        }
    }
}

fn entry_path(path: &str) -> EntryPath {
    // Constant, valid paths.
    #[allow(clippy::expect_used)]
    EntryPath::new(path).expect("valid entry path")
}

/// Entry contents: small ones from memory, blobs from the cache, counted on the packing bar.
struct Source<'a> {
    small: BTreeMap<EntryPath, Vec<u8>>,
    cache: &'a BlobCache,
    bar: Bar,
    ready: &'a Readiness,
}

impl EntrySource for Source<'_> {
    fn open(&mut self, entry: &Entry) -> io::Result<Box<dyn Read + '_>> {
        let reader: Box<dyn Read> = match self.small.get(&entry.path) {
            Some(bytes) => Box::new(io::Cursor::new(bytes.clone())),
            None => {
                self.ready.wait(&entry.sha256)?;
                Box::new(fs_err::File::open(self.cache.path(&entry.sha256))?)
            }
        };
        Ok(Box::new(Counting { inner: reader, bar: &self.bar }))
    }

    fn verified(&self, entry: &Entry) -> bool {
        // Pulled in this build: oci-client hashed it on the way in. Blobs from earlier builds
        // are hashed again, which catches a corrupted cache.
        self.ready.pulled(&entry.sha256)
    }
}

struct Counting<'a, R> {
    inner: R,
    bar: &'a Bar,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
