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

mod error;

pub use error::VerifyError;

use crate::digest::HashingReader;
use crate::entry_path::EntryPath;
use crate::manifest::{Entry, MANIFEST_PATH, MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, Manifest, SIGNATURE_PATH};
use crate::signature::{KeyId, PublicKey, SignatureError};
use crate::ustar::{Archive, FileHeader};
use crate::writer::{FRAME_HEADER, FRAME_WINDOW_LOG};

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
        let expected = verified.manifest.file_trusted_comment();
        if check.signature.trusted_comment() != expected {
            return Err(VerifyError::FileCommentMismatch { found: check.signature.trusted_comment().to_owned(), expected });
        }
    }
    Ok(verified)
}

fn verify_content(input: impl Read, trusted: &[PublicKey], sink: &mut dyn EntrySink) -> Result<Verified, VerifyError> {
    let corrupt = |at: &str| {
        let at = at.to_owned();
        move |cause| VerifyError::Corrupt { at, cause }
    };
    let mut archive = Archive::new(open_frame(input)?);
    let (manifest, key) = read_signed_manifest(&mut archive, trusted)?;
    sink.begin(&manifest).map_err(|source| VerifyError::Sink { path: manifest_path(), source })?;

    let mut seen = BTreeSet::new();
    let mut last = SIGNATURE_PATH.to_owned();
    let mut buf = vec![0u8; DRAIN_BUFFER];
    while let Some(header) = archive.next(Some(&last))? {
        let entry = check_entry(&header, &manifest, &seen)?;
        let mut hashing = HashingReader::new(archive.data(entry.size));
        sink.entry(entry, &mut hashing).map_err(|source| VerifyError::Sink { path: entry.path.clone(), source })?;
        drain(&mut hashing, &mut buf).map_err(corrupt(entry.path.as_str()))?;
        let (actual, actual_size, _) = hashing.finish();
        if actual_size != entry.size {
            let cause = io::Error::new(io::ErrorKind::UnexpectedEof, "entry cut short");
            return Err(VerifyError::Corrupt { at: entry.path.to_string(), cause });
        }
        if actual != entry.sha256 {
            return Err(VerifyError::Digest { path: entry.path.clone(), expected: entry.sha256, actual });
        }
        archive.end_entry(entry.path.as_str(), entry.size)?;
        seen.insert(entry.path.clone());
        last = entry.path.to_string();
    }
    if let Some(missing) = manifest.entries.iter().find(|e| !seen.contains(&e.path)) {
        return Err(VerifyError::Missing(missing.path.clone()));
    }
    end_of_frame(archive.finish()?)?;
    Ok(Verified { manifest, signer: key.key_id() })
}

/// Reads what the sink left of an entry, through a buffer large enough that the zstd decoder
/// and the hasher work on big slices.
fn drain(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

const DRAIN_BUFFER: usize = 128 * 1024;

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

/// Reads one of the two leading entries, checking its name and size cap before its bytes.
fn read_small<R: Read>(archive: &mut Archive<R>, expected: &str, limit: u64, after: Option<&str>) -> Result<Vec<u8>, VerifyError> {
    let wrong = |name: String| match expected {
        MANIFEST_PATH => VerifyError::NoManifest(name),
        _ => VerifyError::NoSignature(name),
    };
    let FileHeader { name, size } = archive.next(after)?.ok_or_else(|| wrong("(none)".into()))?;
    if name != expected {
        return Err(wrong(name));
    }
    if size > limit {
        return Err(VerifyError::TooLarge { path: name, size, limit });
    }
    // At most `limit` (16 MiB for the manifest), allocated only once the size is known.
    let mut bytes = vec![0u8; size as usize];
    archive.data(size).read_exact(&mut bytes).map_err(|cause| VerifyError::Corrupt { at: name.clone(), cause })?;
    archive.end_entry(&name, size)?;
    Ok(bytes)
}

/// Checks name, manifest membership, uniqueness and size of an entry before its bytes.
fn check_entry<'m>(header: &FileHeader, manifest: &'m Manifest, seen: &BTreeSet<EntryPath>) -> Result<&'m Entry, VerifyError> {
    let path = EntryPath::new(&header.name).map_err(VerifyError::Path)?;
    if seen.contains(&path) || [MANIFEST_PATH, SIGNATURE_PATH].contains(&header.name.as_str()) {
        return Err(VerifyError::Duplicate(path));
    }
    let entry = manifest.entry(&path).ok_or_else(|| VerifyError::Unknown(path.clone()))?;
    if header.size != entry.size {
        return Err(VerifyError::Size { path, declared: entry.size, actual: header.size });
    }
    Ok(entry)
}

type FrameDecoder<R> = zstd::stream::read::Decoder<'static, io::BufReader<io::Chain<io::Cursor<[u8; 6]>, R>>>;

/// Checks the constant frame header the writer produces, then decodes exactly one zstd frame,
/// whose window may not exceed the writer's (so the decoder's memory is bounded whatever the
/// frame claims).
fn open_frame<R: Read>(mut input: R) -> Result<FrameDecoder<R>, VerifyError> {
    let start = |cause| VerifyError::Corrupt { at: "start".into(), cause };
    let mut header = [0u8; 6];
    input.read_exact(&mut header).map_err(start)?;
    if header != FRAME_HEADER {
        let cause = io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zstd frame header {header:02x?} is not the one airbundle writes {FRAME_HEADER:02x?}"),
        );
        return Err(start(cause));
    }
    let mut decoder = zstd::stream::read::Decoder::new(io::Cursor::new(header).chain(input)).map_err(start)?;
    decoder.window_log_max(FRAME_WINDOW_LOG).map_err(start)?;
    Ok(decoder.single_frame())
}

/// After the archive (whose padding [`Archive::finish`] checked, reading the frame to its end
/// and so checking its checksum): nothing may follow the frame.
fn end_of_frame<R: Read>(decoder: FrameDecoder<R>) -> Result<(), VerifyError> {
    let mut input = decoder.finish();
    match io::BufRead::fill_buf(&mut input).map_err(|cause| VerifyError::Corrupt { at: "end of archive".into(), cause })? {
        [] => Ok(()),
        _ => Err(VerifyError::AfterFrame),
    }
}

/// Reads the manifest (first entry) without verifying anything, for display (`airbundle
/// inspect`). Never use the result to decide what to trust.
pub fn read_manifest_unverified(input: impl Read) -> Result<Manifest, VerifyError> {
    let mut archive = Archive::new(open_frame(input)?);
    let bytes = read_small(&mut archive, MANIFEST_PATH, MAX_MANIFEST_SIZE, None)?;
    Manifest::from_slice(&bytes).map_err(VerifyError::Manifest)
}

/// Reads the manifest and checks its signature against `trusted`, without reading the rest of
/// the bundle: enough to trust the bundle's version and image names (`airadm init phase …` run
/// alone, after the images were imported). The blobs are not checked; importing does that.
pub fn read_manifest_verified(input: impl Read, trusted: &[PublicKey]) -> Result<Manifest, VerifyError> {
    if trusted.is_empty() {
        return Err(VerifyError::NoTrustedKeys);
    }
    let mut archive = Archive::new(open_frame(input)?);
    Ok(read_signed_manifest(&mut archive, trusted)?.0)
}

/// The first two entries: the manifest, checked against its signature and trusted comment.
fn read_signed_manifest<'k, R: Read>(archive: &mut Archive<R>, trusted: &'k [PublicKey]) -> Result<(Manifest, &'k PublicKey), VerifyError> {
    let manifest_bytes = read_small(archive, MANIFEST_PATH, MAX_MANIFEST_SIZE, None)?;
    let signature_bytes = read_small(archive, SIGNATURE_PATH, MAX_SIGNATURE_SIZE, Some(MANIFEST_PATH))?;
    let signature = String::from_utf8_lossy(&signature_bytes);
    let (key, comment) = PublicKey::verify_with(trusted, &manifest_bytes, &signature).map_err(VerifyError::Signature)?;
    let manifest = Manifest::from_slice(&manifest_bytes).map_err(VerifyError::Manifest)?;
    if comment != manifest.trusted_comment() {
        return Err(VerifyError::CommentMismatch { found: comment, expected: manifest.trusted_comment() });
    }
    Ok((manifest, key))
}
