//! Deterministic bundle writer: tar entries in manifest order with fixed metadata, zstd-compressed.

use std::io::{self, Read, Write};

use crate::digest::{Digest, HashingReader};
use crate::entry_path::EntryPath;
use crate::manifest::{Entry, MANIFEST_PATH, Manifest, SIGNATURE_PATH};
use crate::signature::{PREHASH_LEN, Prehasher};

/// How to compress.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// zstd level (1–19; negative levels are zstd's fast modes).
    pub level: i32,
    /// zstd worker threads, at least 1. The output does not depend on it.
    pub workers: u32,
    /// mtime of every entry (`SOURCE_DATE_EPOCH`, else 0).
    pub mtime: u64,
}

/// Default zstd level. Layers are already gzip-compressed and barely shrink further; level 3
/// squeezes the little there is (configs, manifests, tar headers, uncompressed layers) without
/// burning CPU on incompressible data.
pub const DEFAULT_LEVEL: i32 = 3;

/// zstd job size. Fixed so the output is the same whatever the number of workers; 8 MiB keeps
/// both cores busy on bundles of a few hundred MiB.
const JOB_SIZE: u32 = 8 << 20;

/// zstd window log of every bundle.
pub const FRAME_WINDOW_LOG: u32 = 23;

/// The first bytes of every bundle: zstd magic, frame header descriptor (content checksum, no
/// dictionary, no content size, not single-segment) and the window descriptor for
/// [`FRAME_WINDOW_LOG`].
pub const FRAME_HEADER: [u8; 6] = [0x28, 0xb5, 0x2f, 0xfd, 0x04, ((FRAME_WINDOW_LOG - 10) << 3) as u8];

/// Mode of every entry.
pub const ENTRY_MODE: u32 = 0o644;

/// A bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination or a source failed.
    #[error("failed to write bundle entry `{path}`")]
    Io {
        /// The entry being written.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A source had other bytes than the manifest says (a corrupted cache file, say).
    #[error("source of bundle entry `{path}` has sha256 {actual} and {actual_size} bytes, the manifest says {expected} and {expected_size} bytes")]
    Mismatch {
        /// The entry.
        path: EntryPath,
        /// From the manifest.
        expected: Digest,
        /// From the manifest.
        expected_size: u64,
        /// What the source gave.
        actual: Digest,
        /// What the source gave.
        actual_size: u64,
    },
}

/// Where the bytes of each entry come from.
pub trait EntrySource {
    /// Opens the content of `entry`; the writer checks its size and sha256 while copying.
    fn open(&mut self, entry: &Entry) -> io::Result<Box<dyn Read + '_>>;
}

/// Writes a whole bundle to `out`: the manifest, its signature, then every manifest entry in
/// order, each from `source`. Returns `out` and the BLAKE2b prehash of the bytes written, for the
/// detached signature of the whole file.
pub fn write_bundle<W: Write>(
    out: W,
    options: WriterOptions,
    manifest: &Manifest,
    manifest_signature: &str,
    source: &mut dyn EntrySource,
) -> Result<(W, [u8; PREHASH_LEN]), WriteError> {
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| WriteError::Io { path, source }
    };
    let encoder = new_encoder(Prehasher::new(out), options.level, options.workers).map_err(io_err("(zstd)"))?;
    let mut tar = tar::Builder::new(encoder);
    append(&mut tar, MANIFEST_PATH, &manifest.to_bytes(), options.mtime)?;
    append(&mut tar, SIGNATURE_PATH, manifest_signature.as_bytes(), options.mtime)?;
    for entry in &manifest.entries {
        let reader = source.open(entry).map_err(io_err(entry.path.as_str()))?;
        let mut hashing = HashingReader::new(reader.take(entry.size));
        let mut header = header(entry.size, options.mtime);
        tar.append_data(&mut header, entry.path.as_str(), &mut hashing).map_err(io_err(entry.path.as_str()))?;
        let (actual, actual_size, _) = hashing.finish();
        if actual != entry.sha256 || actual_size != entry.size {
            return Err(WriteError::Mismatch {
                path: entry.path.clone(),
                expected: entry.sha256,
                expected_size: entry.size,
                actual,
                actual_size,
            });
        }
    }
    let encoder = tar.into_inner().map_err(io_err("(end of archive)"))?;
    let prehasher = encoder.finish().map_err(io_err("(end of archive)"))?;
    let (prehash, mut out) = prehasher.finish();
    out.flush().map_err(io_err("(end of archive)"))?;
    Ok((out, prehash))
}

/// A zstd encoder framing data exactly as bundles are framed (what the reader insists on).
pub fn new_encoder<W: Write>(out: W, level: i32, workers: u32) -> io::Result<zstd::stream::write::Encoder<'static, W>> {
    let mut encoder = zstd::stream::write::Encoder::new(out, level)?;
    // Always multi-threaded (at least one worker): zstd's single-threaded mode frames the data
    // differently, and the bytes must not depend on the machine's core count.
    encoder.multithread(workers.max(1))?;
    encoder.set_parameter(zstd::zstd_safe::CParameter::JobSize(JOB_SIZE))?;
    encoder.include_checksum(true)?;
    // A fixed window makes the frame header a constant the reader insists on, so that no byte
    // of a bundle (not even window-size bits that would not change the decoded bytes) can be
    // altered unnoticed. 2^23 keeps plain `zstd -d` working (its limit is 2^27).
    encoder.window_log(FRAME_WINDOW_LOG)?;
    Ok(encoder)
}

fn append<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8], mtime: u64) -> Result<(), WriteError> {
    let mut header = header(data.len() as u64, mtime);
    tar.append_data(&mut header, path, data)
        .map_err(|source| WriteError::Io { path: path.to_owned(), source })
}

/// The one header shape every entry has: regular file, 0644, root-owned, fixed mtime, no names.
fn header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(ENTRY_MODE);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header
}
