//! Streaming verifying reader: one pass over a bundle, signature first, every byte hashed.
//!
//! The reader never trusts an entry before checking it: the manifest is read (size-capped) and
//! its signature verified against the trusted keys before anything else is used; each later entry
//! must be a regular file the manifest lists, not seen before, of the declared size, and its
//! sha256 is compared as it streams past. The caller's [`EntrySink`] sees each entry's bytes as
//! they stream; it must treat them as provisional until [`verify_stream`] returns `Ok`, which
//! happens only after the last entry, the end of the archive and the zstd checksum checked out.

use std::collections::BTreeSet;
use std::io::{self, Read};

use crate::digest::{Digest, HashingReader};
use crate::entry_path::{EntryPath, EntryPathError};
use crate::manifest::{Entry, MANIFEST_PATH, MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, Manifest, ManifestError, SIGNATURE_PATH};
use crate::signature::{KeyId, PublicKey, SignatureError};
use crate::writer::FRAME_HEADER;

/// Why a bundle was refused. Every variant names the first bad entry (or the stream itself).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The compressed stream or the tar structure is damaged or cut short.
    #[error("bundle is corrupt or truncated (at {at}): {cause}")]
    Corrupt {
        /// The last good position: an entry name or `start`.
        at: String,
        /// What the decoder said (in the message: it is the whole story).
        cause: io::Error,
    },
    /// The first entry is not the manifest.
    #[error("bundle's first entry is `{0}`, expected `{MANIFEST_PATH}`: this is not an airbundle bundle")]
    NoManifest(String),
    /// The second entry is not the manifest's signature.
    #[error("bundle's second entry is `{0}`, expected `{SIGNATURE_PATH}`")]
    NoSignature(String),
    /// The manifest or signature entry is bigger than any real one.
    #[error("bundle entry `{path}` is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        /// The entry.
        path: String,
        /// Its size.
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// No trusted key given.
    #[error("no trusted key to check the bundle signature against: pass one with --trusted-key")]
    NoTrustedKeys,
    /// The manifest signature does not check out.
    #[error("bundle entry `{SIGNATURE_PATH}` {0}")]
    Signature(SignatureError),
    /// The detached signature of the whole file does not check out.
    #[error("the bundle file's detached signature (.minisig) {0}")]
    FileSignature(SignatureError),
    /// The signed trusted comment does not describe the manifest.
    #[error("bundle entry `{SIGNATURE_PATH}`: trusted comment `{found}` does not match the manifest (`{expected}`)")]
    CommentMismatch {
        /// Signed comment.
        found: String,
        /// What the manifest implies.
        expected: String,
    },
    /// The manifest is malformed.
    #[error(transparent)]
    Manifest(ManifestError),
    /// An entry name that could escape or is not normalised.
    #[error("bundle {0}")]
    Path(EntryPathError),
    /// A symlink, hard link, directory, device, …
    #[error("bundle entry `{path}` is a {kind}, only regular files are allowed")]
    NotRegular {
        /// The entry.
        path: String,
        /// What it is.
        kind: String,
    },
    /// An entry the manifest does not list.
    #[error("bundle entry `{0}` is not listed in the manifest")]
    Unknown(EntryPath),
    /// An entry seen twice.
    #[error("bundle entry `{0}` appears twice")]
    Duplicate(EntryPath),
    /// An entry of another size than declared.
    #[error("bundle entry `{path}` is {actual} bytes, the manifest says {declared}")]
    Size {
        /// The entry.
        path: EntryPath,
        /// From the manifest.
        declared: u64,
        /// From the archive.
        actual: u64,
    },
    /// An entry whose bytes are not the signed ones.
    #[error("bundle entry `{path}` has sha256 {actual}, the manifest says {expected}")]
    Digest {
        /// The entry.
        path: EntryPath,
        /// From the manifest.
        expected: Digest,
        /// Computed.
        actual: Digest,
    },
    /// An entry the manifest lists but the archive lacks.
    #[error("bundle entry `{0}` is listed in the manifest but missing from the archive")]
    Missing(EntryPath),
    /// Data after the end of the archive.
    #[error("bundle has data after the end of the archive")]
    TrailingData,
    /// The sink failed on an entry.
    #[error("failed to store bundle entry `{path}`")]
    Sink {
        /// The entry.
        path: EntryPath,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Receives a bundle's entries as they stream past the verifier.
pub trait EntrySink {
    /// Called once, after the manifest's signature checked out and before any other entry.
    fn begin(&mut self, _manifest: &Manifest) -> io::Result<()> {
        Ok(())
    }

    /// Called per entry with a reader of exactly its bytes. Whatever the sink does not read is
    /// drained by the verifier. The bytes are verified only when the reader is exhausted.
    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()>;
}

/// A sink that only lets the bytes be hashed.
pub struct Discard;

impl EntrySink for Discard {
    fn entry(&mut self, _entry: &Entry, _data: &mut dyn Read) -> io::Result<()> {
        Ok(())
    }
}

/// What a successful verification proved.
#[derive(Debug)]
pub struct Verified {
    /// The signed manifest.
    pub manifest: Manifest,
    /// Who signed it.
    pub signer: KeyId,
}

/// Verifies the zstd-compressed bundle read from `input` in one pass, feeding entries to `sink`.
///
/// `file_signature` is the text of the detached `.minisig` of the whole file, when there is one:
/// it is checked over the exact bytes read, in the same pass, which also catches changes to the
/// compressed encoding that decode to the same signed content.
pub fn verify_stream(
    input: impl Read,
    trusted: &[PublicKey],
    file_signature: Option<&str>,
    sink: &mut dyn EntrySink,
) -> Result<Verified, VerifyError> {
    if trusted.is_empty() {
        return Err(VerifyError::NoTrustedKeys);
    }
    let file_check = match file_signature {
        Some(text) => Some(FileCheck::new(trusted, text)?),
        None => None,
    };
    let mut input = FileHashing { inner: input, verifier: file_check.as_ref().map(FileCheck::start).transpose()? };
    let verified = verify_content(&mut input, trusted, sink)?;
    if let (Some(check), Some(mut verifier)) = (&file_check, input.verifier) {
        verifier.finalize().map_err(|_| VerifyError::FileSignature(SignatureError::Invalid(check.key.key_id())))?;
        let expected = format!("kubernetes={} arch={}", verified.manifest.kubernetes_version, verified.manifest.arch);
        if !check.signature.trusted_comment().ends_with(&expected) {
            return Err(VerifyError::CommentMismatch { found: check.signature.trusted_comment().to_owned(), expected });
        }
    }
    Ok(verified)
}

fn verify_content(input: impl Read, trusted: &[PublicKey], sink: &mut dyn EntrySink) -> Result<Verified, VerifyError> {
    let corrupt = |at: &str| {
        let at = at.to_owned();
        move |source| VerifyError::Corrupt { at, cause: source }
    };
    let decoder = open_frame(input)?;
    let mut archive = tar::Archive::new(decoder);
    let mut entries = archive.entries().map_err(corrupt("start"))?;

    let (manifest, key) = read_signed_manifest(&mut entries, trusted)?;
    sink.begin(&manifest).map_err(|source| VerifyError::Sink { path: manifest_path(), source })?;

    let mut seen = BTreeSet::new();
    let mut last = SIGNATURE_PATH.to_owned();
    for raw in entries {
        let mut raw = raw.map_err(corrupt(&last))?;
        let entry = check_entry(&raw, &manifest, &seen)?;
        let mut hashing = HashingReader::new((&mut raw).take(entry.size));
        sink.entry(entry, &mut hashing).map_err(|source| VerifyError::Sink { path: entry.path.clone(), source })?;
        io::copy(&mut hashing, &mut io::sink()).map_err(corrupt(entry.path.as_str()))?;
        let (actual, actual_size, _) = hashing.finish();
        if actual_size != entry.size {
            return Err(VerifyError::Corrupt {
                at: entry.path.to_string(),
                cause: io::Error::new(io::ErrorKind::UnexpectedEof, "entry cut short"),
            });
        }
        if actual != entry.sha256 {
            return Err(VerifyError::Digest { path: entry.path.clone(), expected: entry.sha256, actual });
        }
        seen.insert(entry.path.clone());
        last = entry.path.to_string();
    }
    if let Some(missing) = manifest.entries.iter().find(|e| !seen.contains(&e.path)) {
        return Err(VerifyError::Missing(missing.path.clone()));
    }
    drain_to_end(archive.into_inner())?;
    Ok(Verified { manifest, signer: key.key_id() })
}

/// The detached signature, parsed and matched to its trusted key before reading starts.
struct FileCheck<'k> {
    key: &'k PublicKey,
    signature: minisign_verify::Signature,
}

impl<'k> FileCheck<'k> {
    fn new(trusted: &'k [PublicKey], text: &str) -> Result<Self, VerifyError> {
        let signature = minisign_verify::Signature::decode(text).map_err(|_| VerifyError::FileSignature(SignatureError::Malformed))?;
        let found = crate::signature::signature_key_id(text).ok_or(VerifyError::FileSignature(SignatureError::Malformed))?;
        let key = trusted.iter().find(|k| k.key_id() == found).ok_or_else(|| {
            let trusted = trusted.iter().map(|k| k.key_id().to_string()).collect::<Vec<_>>().join(", ");
            VerifyError::FileSignature(SignatureError::UntrustedKey { found, trusted })
        })?;
        Ok(Self { key, signature })
    }

    fn start(&self) -> Result<minisign_verify::StreamVerifier<'_>, VerifyError> {
        self.key.stream_verifier(&self.signature).map_err(VerifyError::FileSignature)
    }
}

/// Feeds every byte read to the detached-signature verifier, if any.
struct FileHashing<'a, R> {
    inner: R,
    verifier: Option<minisign_verify::StreamVerifier<'a>>,
}

impl<R: Read> Read for FileHashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(verifier) = &mut self.verifier {
            verifier.update(&buf[..n]);
        }
        Ok(n)
    }
}

fn manifest_path() -> EntryPath {
    // A constant valid path.
    #[allow(clippy::expect_used)]
    EntryPath::new(MANIFEST_PATH).expect("valid")
}

/// Reads one of the two leading entries, checking its name, type and size cap.
fn read_small<R: Read>(
    next: Option<io::Result<tar::Entry<'_, R>>>,
    expected: &str,
    limit: u64,
    after: &str,
) -> Result<(Vec<u8>, u64), VerifyError> {
    let missing = || match expected {
        MANIFEST_PATH => VerifyError::NoManifest("(none)".into()),
        _ => VerifyError::NoSignature("(none)".into()),
    };
    let mut entry = next.ok_or_else(missing)?.map_err(|source| VerifyError::Corrupt { at: after.to_owned(), cause: source })?;
    let path = entry_name(&entry);
    if path != expected {
        return Err(match expected {
            MANIFEST_PATH => VerifyError::NoManifest(path),
            _ => VerifyError::NoSignature(path),
        });
    }
    check_regular(&entry, &path)?;
    let size = entry.header().size().map_err(|source| VerifyError::Corrupt { at: path.clone(), cause: source })?;
    if size > limit {
        return Err(VerifyError::TooLarge { path, size, limit });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    (&mut entry).take(limit).read_to_end(&mut bytes).map_err(|source| VerifyError::Corrupt { at: path.clone(), cause: source })?;
    Ok((bytes, size))
}

/// Checks name, type, manifest membership, uniqueness and size of an entry before its bytes.
fn check_entry<'m, R: Read>(raw: &tar::Entry<'_, R>, manifest: &'m Manifest, seen: &BTreeSet<EntryPath>) -> Result<&'m Entry, VerifyError> {
    let name = entry_name(raw);
    let path = EntryPath::new(&name).map_err(VerifyError::Path)?;
    check_regular(raw, &name)?;
    if seen.contains(&path) || [MANIFEST_PATH, SIGNATURE_PATH].contains(&name.as_str()) {
        return Err(VerifyError::Duplicate(path));
    }
    let entry = manifest.entry(&path).ok_or_else(|| VerifyError::Unknown(path.clone()))?;
    let actual = raw.header().size().map_err(|source| VerifyError::Corrupt { at: name.clone(), cause: source })?;
    if actual != entry.size {
        return Err(VerifyError::Size { path, declared: entry.size, actual });
    }
    Ok(entry)
}

fn check_regular<R: Read>(entry: &tar::Entry<'_, R>, name: &str) -> Result<(), VerifyError> {
    let kind = entry.header().entry_type();
    if kind.is_file() {
        return Ok(());
    }
    let kind = match kind {
        tar::EntryType::Symlink => "symbolic link".to_owned(),
        tar::EntryType::Link => "hard link".to_owned(),
        tar::EntryType::Directory => "directory".to_owned(),
        tar::EntryType::Char | tar::EntryType::Block => "device".to_owned(),
        tar::EntryType::Fifo => "fifo".to_owned(),
        other => format!("non-regular entry (type {:?})", other.as_byte() as char),
    };
    Err(VerifyError::NotRegular { path: name.to_owned(), kind })
}

/// The entry's raw name, lossily decoded so that even a hostile name can be reported.
fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

type FrameDecoder<R> = zstd::stream::read::Decoder<'static, io::BufReader<io::Chain<io::Cursor<[u8; 6]>, R>>>;

/// Checks the constant frame header the writer produces, then decodes exactly one zstd frame.
fn open_frame<R: Read>(mut input: R) -> Result<FrameDecoder<R>, VerifyError> {
    let mut header = [0u8; 6];
    input.read_exact(&mut header).map_err(|source| VerifyError::Corrupt { at: "start".into(), cause: source })?;
    if header != FRAME_HEADER {
        let source = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zstd frame header {header:02x?} is not the one airbundle writes {FRAME_HEADER:02x?}"),
        );
        return Err(VerifyError::Corrupt { at: "start".into(), cause: source });
    }
    let decoder = zstd::stream::read::Decoder::new(io::Cursor::new(header).chain(input))
        .map_err(|source| VerifyError::Corrupt { at: "start".into(), cause: source })?;
    Ok(decoder.single_frame())
}

/// Reads past the end-of-archive marker to the end of the zstd frame, so that its checksum is
/// checked, and makes sure nothing follows the frame. Only zero padding may follow the archive.
fn drain_to_end<R: Read>(mut rest: FrameDecoder<R>) -> Result<(), VerifyError> {
    let corrupt = |source| VerifyError::Corrupt { at: "end of archive".into(), cause: source };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rest.read(&mut buf).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(VerifyError::TrailingData);
        }
    }
    let mut input = rest.finish();
    match io::BufRead::fill_buf(&mut input).map_err(corrupt)? {
        [] => Ok(()),
        _ => Err(VerifyError::TrailingData),
    }
}

/// Reads the manifest (first entry) without verifying anything, for display (`airbundle
/// inspect`). Never use the result to decide what to trust.
pub fn read_manifest_unverified(input: impl Read) -> Result<Manifest, VerifyError> {
    let mut archive = tar::Archive::new(open_frame(input)?);
    let mut entries = archive.entries().map_err(|source| VerifyError::Corrupt { at: "start".into(), cause: source })?;
    let (bytes, _) = read_small(entries.next(), MANIFEST_PATH, MAX_MANIFEST_SIZE, "start")?;
    Manifest::from_slice(&bytes).map_err(VerifyError::Manifest)
}

/// Reads the manifest and checks its signature against `trusted`, without reading the rest of
/// the bundle: enough to trust the bundle's version and image names (`airadm init phase …` run
/// alone, after the images were imported). The blobs are not checked; importing does that.
pub fn read_manifest_verified(input: impl Read, trusted: &[PublicKey]) -> Result<Manifest, VerifyError> {
    if trusted.is_empty() {
        return Err(VerifyError::NoTrustedKeys);
    }
    let mut archive = tar::Archive::new(open_frame(input)?);
    let mut entries = archive.entries().map_err(|source| VerifyError::Corrupt { at: "start".into(), cause: source })?;
    Ok(read_signed_manifest(&mut entries, trusted)?.0)
}

/// The first two entries: the manifest, checked against its signature and trusted comment.
fn read_signed_manifest<'k, R: Read>(
    entries: &mut tar::Entries<'_, R>,
    trusted: &'k [PublicKey],
) -> Result<(Manifest, &'k PublicKey), VerifyError> {
    let (manifest_bytes, _) = read_small(entries.next(), MANIFEST_PATH, MAX_MANIFEST_SIZE, "start")?;
    let (signature_bytes, _) = read_small(entries.next(), SIGNATURE_PATH, MAX_SIGNATURE_SIZE, MANIFEST_PATH)?;
    let signature = String::from_utf8_lossy(&signature_bytes);
    let (key, comment) = PublicKey::verify_with(trusted, &manifest_bytes, &signature).map_err(VerifyError::Signature)?;
    let manifest = Manifest::from_slice(&manifest_bytes).map_err(VerifyError::Manifest)?;
    if comment != manifest.trusted_comment() {
        return Err(VerifyError::CommentMismatch { found: comment, expected: manifest.trusted_comment() });
    }
    Ok((manifest, key))
}
