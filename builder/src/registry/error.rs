//! Why a pull failed: [`PullError`], and the sorting of oci-client's errors and of bad content
//! into retryable, not found, unauthorized, corrupt or fatal.

use bundle::Digest;
use oci_client::Reference;
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};

use super::BlobRef;
use crate::auth::AuthError;

/// Why an image could not be pulled. Each names the image as it was pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Tag or repository missing.
    #[error("image `{image}` not found in the registry: check the version, or copy the image to the mirror first")]
    NotFound {
        /// The pulled reference.
        image: String,
    },
    /// Credentials missing or refused.
    #[error(
        "registry `{registry}` refused access to `{image}`: log in with `docker login {registry}` (credentials are read from $DOCKER_CONFIG/config.json or ~/.docker/config.json)"
    )]
    Unauthorized {
        /// The pulled reference.
        image: String,
        /// Its registry host.
        registry: String,
    },
    /// The index has no manifest for the platform.
    #[error("image `{image}` has no linux/{arch} variant (it has: {available})")]
    NoPlatform {
        /// The pulled reference.
        image: String,
        /// Wanted.
        arch: String,
        /// Offered.
        available: String,
    },
    /// A single-platform image for another platform.
    #[error("image `{image}` is a single-platform image for {found}, not linux/{arch}")]
    WrongPlatform {
        /// The pulled reference.
        image: String,
        /// Wanted.
        arch: String,
        /// Found.
        found: String,
    },
    /// Schema 1, artifacts and other things that are not images.
    #[error("image `{image}`: {reason}")]
    Unsupported {
        /// The pulled reference.
        image: String,
        /// Why.
        reason: String,
    },
    /// The registry sent other bytes than the digest names.
    #[error("registry sent corrupt content for `{image}`: blob {expected} hashed to {actual}; refusing it (no bundle is written)")]
    Digest {
        /// The pulled reference.
        image: String,
        /// Asked for.
        expected: String,
        /// Got.
        actual: String,
    },
    /// The registry sent more bytes than the descriptor declares.
    #[error("registry sent more than the declared {declared} bytes for blob {digest} of `{image}`; refusing it")]
    TooLarge {
        /// The pulled reference.
        image: String,
        /// The blob.
        digest: Digest,
        /// Declared size.
        declared: u64,
    },
    /// Retries exhausted, or an error that retrying cannot fix.
    #[error("pulling `{image}` failed after {attempts} attempt(s)")]
    Failed {
        /// The pulled reference.
        image: String,
        /// How many.
        attempts: u32,
        /// The last error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Credentials could not be read.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The cache could not be written.
    #[error("failed to write to the blob cache")]
    Cache(#[source] std::io::Error),
    /// A transient error, retried by [`Registry::retry`](super::Registry::retry); never escapes it.
    #[error("transient error pulling `{image}`")]
    Transient {
        /// The pulled reference.
        image: String,
        /// What happened.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A digest mismatch reported by oci-client's verifying stream is final; anything else on the
/// stream (reset, timeout) is worth a retry.
pub(super) fn stream_error(reference: &Reference, blob: &BlobRef, error: std::io::Error) -> PullError {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>()) {
        Some(DigestError::VerificationError { actual, .. }) => {
            PullError::Digest { image: reference.whole(), expected: blob.digest.to_string(), actual: actual.clone() }
        }
        _ => PullError::Transient { image: reference.whole(), source: Box::new(error) },
    }
}

pub(super) fn check_content(reference: &Reference, blob: &BlobRef, bytes: &[u8]) -> Result<(), PullError> {
    let actual = Digest::of(bytes);
    if actual != blob.digest || bytes.len() as u64 != blob.size {
        return Err(PullError::Digest { image: reference.whole(), expected: blob.digest.to_string(), actual: actual.to_string() });
    }
    Ok(())
}

pub(super) fn unsupported(reference: &Reference, reason: &str) -> PullError {
    PullError::Unsupported { image: reference.whole(), reason: reason.to_owned() }
}

/// Sorts an oci-client error into retryable, not found, unauthorized, corrupt or fatal.
pub(super) fn classify(reference: &Reference, error: OciDistributionError) -> PullError {
    let image = reference.whole();
    let registry = reference.registry().to_owned();
    let transient = |source: OciDistributionError| PullError::Transient { image: image.clone(), source: Box::new(source) };
    match &error {
        OciDistributionError::ServerError { code, .. } if *code >= 500 || *code == 429 || *code == 408 => transient(error),
        OciDistributionError::ServerError { code: 404, .. } => PullError::NotFound { image },
        OciDistributionError::ServerError { code: 401 | 403, .. }
        | OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => PullError::Unauthorized { image, registry },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes.iter().any(|c| {
                matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::BlobUnknown | OciErrorCode::NotFound)
            }) {
                PullError::NotFound { image }
            } else if codes.iter().any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                PullError::Unauthorized { image, registry }
            } else if codes.iter().any(|c| matches!(c, OciErrorCode::Toomanyrequests)) {
                transient(error)
            } else {
                PullError::Failed { image, attempts: 1, source: Box::new(error) }
            }
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() || e.is_body() || e.is_request() || e.is_decode() => {
            transient(error)
        }
        OciDistributionError::IoError(_) => transient(error),
        OciDistributionError::DigestError(e) => PullError::Digest { image, expected: "(per its reference)".into(), actual: e.to_string() },
        _ => PullError::Failed { image, attempts: 1, source: Box::new(error) },
    }
}
