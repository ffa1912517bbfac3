//! Why a bundle was refused.

use std::io;

use crate::digest::Digest;
use crate::entry_path::{EntryPath, EntryPathError};
use crate::manifest::{MANIFEST_PATH, ManifestError, SIGNATURE_PATH};
use crate::signature::SignatureError;

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
    /// The detached signature's trusted comment is not exactly the one airbundle signs.
    #[error("the bundle file's detached signature (.minisig): trusted comment `{found}` is not the one airbundle signs (`{expected}`)")]
    FileCommentMismatch {
        /// Signed comment.
        found: String,
        /// What airbundle signs for this manifest.
        expected: String,
    },
    /// The manifest is malformed.
    #[error(transparent)]
    Manifest(ManifestError),
    /// An entry name that could escape or is not normalised.
    #[error("bundle {0}")]
    Path(EntryPathError),
    /// A PAX or GNU extension header (attributes, long name, long link name): tar would read
    /// the next entry differently from its plain ustar header.
    #[error("{}", extension_message(kind, *size, path.as_deref(), after.as_deref()))]
    Extension {
        /// What it is (`PAX extended header`, `GNU long name header`, …).
        kind: &'static str,
        /// Its declared data size.
        size: u64,
        /// The entry it precedes, when its data was small enough to look past.
        path: Option<String>,
        /// The entry before it (`None`: it comes first).
        after: Option<String>,
    },
    /// A symlink, hard link, directory, device, sparse file…
    #[error("bundle entry `{path}` is a {kind}, only plain ustar regular files are allowed")]
    NotRegular {
        /// The entry.
        path: String,
        /// What it is.
        kind: String,
    },
    /// A GNU, pre-POSIX or unknown header format.
    #[error("bundle entry `{path}` has {format} header, only plain ustar regular files are allowed")]
    NotUstar {
        /// The entry.
        path: String,
        /// The format its magic says, with its article (`a GNU tar`).
        format: String,
    },
    /// Setuid, setgid or sticky bits, or more.
    #[error("bundle entry `{path}` has mode 0{mode:o}, only permission bits (at most 0777) are allowed")]
    Mode {
        /// The entry.
        path: String,
        /// Its mode.
        mode: u64,
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
    /// Non-zero data after the end of the archive, or a lone zero block.
    #[error("bundle has data after the end of the archive")]
    TrailingData,
    /// More zeros after the end-of-archive marker than tar pads its last record with.
    #[error("bundle has more than the {limit} bytes of zero padding tar writes after the end-of-archive marker")]
    Padding {
        /// What tar would have written: up to the end of the 10240-byte record.
        limit: u64,
    },
    /// Bytes after the zstd frame: a second frame, a skippable frame, garbage.
    #[error("bundle has data after its zstd frame: a bundle is exactly one zstd frame")]
    AfterFrame,
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

fn extension_message(kind: &str, size: u64, path: Option<&str>, after: Option<&str>) -> String {
    let what = match (path, after) {
        (Some(path), _) => format!("bundle entry `{path}` is preceded by a {kind}"),
        (None, None) => format!("bundle has a {kind} of {size} bytes before its first entry"),
        (None, Some(after)) => format!("bundle has a {kind} of {size} bytes after entry `{after}`"),
    };
    format!("{what}, only plain ustar regular files are allowed")
}
