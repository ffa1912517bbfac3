//! Why a node binary could not be added to the bundle.

use std::io;
use std::path::PathBuf;

use super::super::Location;

/// Why a binary could not be added; each names the file or URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 404, or a missing file under `--binaries-dir`.
    #[error(
        "{0}: not found: check the version, or add the file to the mirror (--binaries-mirror) or directory (--binaries-dir); --no-binaries builds without binaries"
    )]
    NotFound(Location),
    /// Another HTTP error that retrying does not fix.
    #[error("{location}: the server answered HTTP {status}")]
    Status {
        /// The URL.
        location: Location,
        /// Its status.
        status: u16,
    },
    /// Retries exhausted.
    #[error("downloading {location} failed after {attempts} attempt(s)")]
    Failed {
        /// The URL.
        location: Location,
        /// How many.
        attempts: u32,
        /// The last error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A checksum file that says nothing usable.
    #[error("{location} {reason}")]
    ChecksumFile {
        /// The checksum file.
        location: Location,
        /// What is wrong.
        reason: String,
    },
    /// The download is not what its published checksum says.
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
    /// A release archive that is not what the layout promises.
    #[error("{location}: {reason}")]
    Archive {
        /// The archive.
        location: Location,
        /// What is wrong.
        reason: String,
    },
    /// `--airadm-binary` unusable.
    #[error("--airadm-binary {arch}={}: {reason}", path.display())]
    Airadm {
        /// The architecture.
        arch: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading a local file or writing the cache failed.
    #[error("failed to read {location} into the blob cache")]
    Io {
        /// What was read.
        location: Location,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Transient: retried by `retry`, never escapes it.
    #[error("transient error")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A download that is not what its published checksum says.
#[derive(Debug, thiserror::Error)]
#[error("checksum mismatch: {location} has {algorithm} {actual}, but {checksum} says {expected}; refusing it (no bundle is written)")]
pub struct Mismatch {
    /// The file.
    pub location: Location,
    /// `sha256`, `sha512`.
    pub algorithm: &'static str,
    /// Computed.
    pub actual: String,
    /// The checksum file.
    pub checksum: Location,
    /// Published.
    pub expected: String,
}
