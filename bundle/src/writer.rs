//! Deterministic bundle writer: tar entries in manifest order with fixed metadata, zstd-compressed.

use std::io::{self, Read, Write};
use std::sync::mpsc;

use crate::digest::{Digest, Hasher};
use crate::entry_path::EntryPath;
use crate::manifest::{Entry, MANIFEST_PATH, Manifest, SIGNATURE_PATH};
use crate::signature::{PREHASH_LEN, Prehasher};
use crate::ustar;

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

/// Default zstd level. Layers are already gzip-compressed and do not shrink further: on the
/// benchmark's real layers level 1 is 15% faster than level 3 for 0.03% more bytes (see
/// BENCHMARKS.md), while still squeezing configs, manifests and tar headers.
pub const DEFAULT_LEVEL: i32 = 1;

/// zstd job size. Fixed so the output is the same whatever the number of workers. Memory, not
/// speed, sets it: zstd's multi-threaded mode holds about three jobs per worker plus the window
/// (peak RSS of a cold build, 2 workers, the buffers below: 2 MiB jobs 63 MiB, 1 MiB jobs
/// 51 MiB, 512 KiB 51 MiB; see BENCHMARKS.md), and 1 MiB jobs still keep every worker busy.
const JOB_SIZE: u32 = 1 << 20;

/// zstd window log of every bundle: the writer's window, and the most the reader's decoder
/// allows (`window_log_max`), so decoding never needs more than 2^23 bytes of window whatever a
/// crafted frame claims.
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
    #[error(
        "source of bundle entry `{path}` has sha256 {actual} and {actual_size} bytes, the manifest says {expected} and {expected_size} bytes"
    )]
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
    /// A name no plain ustar header holds (PAX or GNU long names would be needed).
    #[error(
        "bundle entry name `{path}` does not fit a ustar header (at most 100 bytes, or a `/`-split 155 + 100): shorten the image or file name"
    )]
    NameTooLong {
        /// The entry.
        path: String,
    },
    /// An entry too large for a ustar size field (8 GiB - 1).
    #[error("bundle entry `{path}` is {size} bytes, more than a ustar header can hold ({})", ustar::MAX_OCTAL)]
    TooLarge {
        /// The entry.
        path: String,
        /// Its size.
        size: u64,
    },
    /// An mtime (`SOURCE_DATE_EPOCH`) past what a ustar header holds.
    #[error("mtime {mtime} (SOURCE_DATE_EPOCH) is more than a ustar header can hold ({}): pass a smaller one", ustar::MAX_OCTAL)]
    Mtime {
        /// The mtime.
        mtime: u64,
    },
}

/// Where the bytes of each entry come from.
pub trait EntrySource {
    /// Opens the content of `entry`; the writer checks its size and sha256 while copying.
    fn open(&mut self, entry: &Entry) -> io::Result<Box<dyn Read + '_>>;

    /// True when the source already verified `entry`'s sha256 itself (a blob hashed while it was
    /// downloaded a moment ago); the writer then only checks its size.
    fn verified(&self, _entry: &Entry) -> bool {
        false
    }
}

/// Writes a whole bundle to `out`: the manifest, its signature, then every manifest entry in
/// order, each from `source`. Returns `out` and the BLAKE2b prehash of the bytes written, for the
/// detached signature of the whole file.
///
/// The compressed output is hashed and written by a second thread, so that hashing runs beside
/// reading, tar framing and compression instead of after them.
pub fn write_bundle<W: Write + Send>(
    out: W,
    options: WriterOptions,
    manifest: &Manifest,
    manifest_signature: &str,
    source: &mut dyn EntrySource,
) -> Result<(W, [u8; PREHASH_LEN]), WriteError> {
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(OUTPUT_QUEUE);
    let (recycle, recycled) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let output = scope.spawn(move || hash_and_write(out, receiver, recycle));
        let channel = ChannelWriter { sender, recycled, current: Vec::with_capacity(OUTPUT_CHUNK) };
        let written = write_entries(channel, options, manifest, manifest_signature, source);
        // The sender is gone (dropped with the encoder) whether writing succeeded or not.
        let output = output.join().unwrap_or_else(|_| Err(io::Error::other("output thread panicked")));
        match (written, output) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(source)) => Err(WriteError::Io { path: "(output)".into(), source }),
            (Ok(()), Ok((prehasher_out, prehash))) => Ok((prehasher_out, prehash)),
        }
    })
}

/// Compressed chunks in flight between the two threads, and their size: small enough that the
/// queue costs 2 MiB, large enough that each is one write and one hasher call.
const OUTPUT_QUEUE: usize = 8;
const OUTPUT_CHUNK: usize = 256 << 10;

fn hash_and_write<W: Write>(out: W, chunks: mpsc::Receiver<Vec<u8>>, recycle: mpsc::Sender<Vec<u8>>) -> io::Result<(W, [u8; PREHASH_LEN])> {
    let mut prehasher = Prehasher::new(out);
    for mut chunk in chunks {
        prehasher.write_all(&chunk)?;
        chunk.clear();
        let _ = recycle.send(chunk);
    }
    let (prehash, mut out) = prehasher.finish();
    out.flush()?;
    Ok((out, prehash))
}

/// Gathers writes into 1 MiB chunks for the output thread, reusing the chunks it hands back.
struct ChannelWriter {
    sender: mpsc::SyncSender<Vec<u8>>,
    recycled: mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
}

impl ChannelWriter {
    fn send_current(&mut self) -> io::Result<()> {
        let next = self.recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(OUTPUT_CHUNK));
        let full = std::mem::replace(&mut self.current, next);
        self.sender.send(full).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "output thread stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(OUTPUT_CHUNK - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        if self.current.len() == OUTPUT_CHUNK {
            self.send_current()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.current.is_empty() { Ok(()) } else { self.send_current() }
    }
}

fn write_entries(
    out: ChannelWriter,
    options: WriterOptions,
    manifest: &Manifest,
    manifest_signature: &str,
    source: &mut dyn EntrySource,
) -> Result<(), WriteError> {
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| WriteError::Io { path, source }
    };
    if options.mtime > ustar::MAX_OCTAL {
        return Err(WriteError::Mtime { mtime: options.mtime });
    }
    let encoder = new_encoder(out, options.level, options.workers).map_err(io_err("(zstd)"))?;
    let mut tar = TarWriter { out: encoder, buffer: vec![0u8; COPY_BUFFER], mtime: options.mtime };
    tar.append_bytes(MANIFEST_PATH, &manifest.to_bytes())?;
    tar.append_bytes(SIGNATURE_PATH, manifest_signature.as_bytes())?;
    for entry in &manifest.entries {
        let path = entry.path.as_str();
        // The header first: a name or size ustar cannot hold is refused before the source opens.
        let header = tar.header(path, entry.size)?;
        let verified = source.verified(entry);
        let reader = source.open(entry).map_err(io_err(path))?;
        let mut hasher = (!verified).then(Hasher::default);
        let actual_size = tar.append(&header, entry.size, reader, hasher.as_mut()).map_err(io_err(path))?;
        let actual = hasher.map_or(entry.sha256, Hasher::finish);
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
    let encoder = tar.finish().map_err(io_err("(end of archive)"))?;
    let mut channel = encoder.finish().map_err(io_err("(end of archive)"))?;
    channel.flush().map_err(io_err("(end of archive)"))?;
    Ok(())
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

/// Copy buffer: large reads from the cache and large writes into zstd (io::copy's 8 KiB would
/// mean a syscall and a compressor call per 8 KiB).
const COPY_BUFFER: usize = 256 << 10;

/// A minimal ustar writer: plain ustar headers ([`ustar::header`]), data, zero padding, the
/// end-of-archive marker. It writes nothing else: no PAX or GNU extension ever.
struct TarWriter<W> {
    out: W,
    buffer: Vec<u8>,
    mtime: u64,
}

impl<W: Write> TarWriter<W> {
    fn header(&self, path: &str, size: u64) -> Result<[u8; ustar::BLOCK], WriteError> {
        ustar::header(path, size, ENTRY_MODE, self.mtime).map_err(|e| match e {
            ustar::HeaderError::Name => WriteError::NameTooLong { path: path.to_owned() },
            ustar::HeaderError::Size => WriteError::TooLarge { path: path.to_owned(), size },
        })
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let padding = (ustar::BLOCK - (size % ustar::BLOCK as u64) as usize) % ustar::BLOCK;
        self.out.write_all(&[0u8; ustar::BLOCK][..padding])
    }

    fn append_bytes(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        let header = self.header(path, data.len() as u64)?;
        let io = |source| WriteError::Io { path: path.to_owned(), source };
        self.out.write_all(&header).map_err(io)?;
        self.out.write_all(data).map_err(io)?;
        self.pad(data.len() as u64).map_err(io)
    }

    /// Writes an entry of `size` bytes from `reader` under `header`, hashing into `hasher` if
    /// given. Returns how many bytes the reader had (up to `size`); short sources are
    /// zero-filled so the archive stays well-formed, and reported to the caller as a mismatch.
    fn append(
        &mut self,
        header: &[u8; ustar::BLOCK],
        size: u64,
        mut reader: impl Read,
        mut hasher: Option<&mut Hasher>,
    ) -> io::Result<u64> {
        self.out.write_all(header)?;
        let mut copied = 0u64;
        while copied < size {
            let want = (size - copied).min(self.buffer.len() as u64) as usize;
            let n = match reader.read(&mut self.buffer[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(hasher) = hasher.as_deref_mut() {
                hasher.update(&self.buffer[..n]);
            }
            self.out.write_all(&self.buffer[..n])?;
            copied += n as u64;
        }
        let missing = size - copied;
        for chunk in (0..missing).step_by(COPY_BUFFER) {
            let n = (missing - chunk).min(COPY_BUFFER as u64) as usize;
            self.buffer[..n].fill(0);
            self.out.write_all(&self.buffer[..n])?;
        }
        self.pad(size)?;
        Ok(copied)
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the output.
    fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * ustar::BLOCK])?;
        Ok(self.out)
    }
}
