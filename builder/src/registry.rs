//! Pulling from registries: platform resolution, streamed blob downloads into the cache with
//! size and sha256 checks, anonymous bearer tokens and docker-config credentials, and retries
//! with backoff on 5xx, 429 and dropped connections.

mod error;
mod mirror;
mod resolve;

pub use error::PullError;
pub use mirror::{Mirror, pull_reference};

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bundle::{Digest, Platform};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;

use self::error::{check_content, classify, stream_error, unsupported};
use crate::auth::DockerConfig;
use crate::cache::BlobCache;
use crate::progress::Bar;

/// Every manifest media type we accept; distribution 2.8 answers 404 for an OCI index
/// unless the index type is in `Accept`.
const ACCEPT: &[&str] = &[OCI_IMAGE_INDEX_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE];
/// Largest manifest or config we hold in memory (real ones are a few KiB).
const MAX_SMALL_BLOB: u64 = 4 << 20;

/// A blob to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// Its digest.
    pub digest: Digest,
    /// Its declared size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// An image resolved to one platform.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Where it was pulled from.
    pub source: Reference,
    /// The platform manifest's exact bytes (never re-serialised: that would change the digest).
    pub manifest: bytes::Bytes,
    /// Their digest.
    pub digest: Digest,
    /// Their media type.
    pub media_type: String,
    /// The platform.
    pub platform: Platform,
    /// The index it came from.
    pub index_digest: Option<Digest>,
    /// The config blob.
    pub config: BlobRef,
    /// The layers.
    pub layers: Vec<BlobRef>,
}

/// Retry policy.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in total, at least 1.
    pub attempts: u32,
    /// Delay before the second attempt; doubled each time.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { attempts: 6, first_delay: Duration::from_millis(200) }
    }
}

/// A registry client shared by all pulls of a build.
pub struct Registry {
    client: Client,
    docker_config: DockerConfig,
    auths: Mutex<HashMap<String, RegistryAuth>>,
    retry: Retry,
}

impl Registry {
    /// A client; `plain_http` lists hosts spoken to over HTTP.
    pub fn new(plain_http: Vec<String>, docker_config: DockerConfig, retry: Retry) -> Result<Self, PullError> {
        let config = ClientConfig {
            protocol: if plain_http.is_empty() { ClientProtocol::Https } else { ClientProtocol::HttpsExcept(plain_http) },
            platform_resolver: None,
            ..Default::default()
        };
        let client =
            Client::try_from(config).map_err(|e| PullError::Failed { image: "(client setup)".into(), attempts: 0, source: Box::new(e) })?;
        Ok(Self { client, docker_config, auths: Mutex::new(HashMap::new()), retry })
    }

    async fn auth(&self, reference: &Reference) -> Result<RegistryAuth, PullError> {
        let host = reference.registry().to_owned();
        let mut auths = self.auths.lock().await;
        if let Some(auth) = auths.get(&host) {
            return Ok(auth.clone());
        }
        let auth = match self.docker_config.credentials(&host)? {
            Some(c) => RegistryAuth::Basic(c.username, c.password),
            None => RegistryAuth::Anonymous,
        };
        auths.insert(host, auth.clone());
        Ok(auth)
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts run out.
    async fn retry<T, F, Fut>(&self, image: &Reference, mut op: F) -> Result<T, PullError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, PullError>>,
    {
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts.max(1) {
            match op(attempt).await {
                Err(PullError::Transient { source, .. }) if attempt < self.retry.attempts => {
                    tracing::warn!(image = %image, attempt, error = %source, "retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(PullError::Transient { source, .. }) => {
                    return Err(PullError::Failed { image: image.whole(), attempts: attempt, source });
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    async fn manifest(&self, reference: &Reference) -> Result<(bytes::Bytes, Digest), PullError> {
        let auth = self.auth(reference).await?;
        self.retry(reference, |_| async {
            let (bytes, digest) = self.client.pull_manifest_raw(reference, &auth, ACCEPT).await.map_err(|e| classify(reference, e))?;
            let digest = digest
                .parse()
                .map_err(|_| PullError::Unsupported { image: reference.whole(), reason: format!("digest `{digest}` is not sha256") })?;
            Ok((bytes, digest))
        })
        .await
    }

    async fn small_blob(&self, reference: &Reference, blob: &BlobRef) -> Result<Vec<u8>, PullError> {
        if blob.size > MAX_SMALL_BLOB {
            return Err(unsupported(reference, &format!("config blob {} is {} bytes", blob.digest, blob.size)));
        }
        let auth = self.auth(reference).await?;
        self.client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
        self.retry(reference, |_| async {
            let mut out = Vec::with_capacity(blob.size as usize);
            self.client.pull_blob(reference, blob.digest.to_string().as_str(), &mut out).await.map_err(|e| classify(reference, e))?;
            check_content(reference, blob, &out)?;
            Ok(out)
        })
        .await
    }

    /// Streams one blob into the cache, checking size and sha256 as it arrives.
    pub async fn fetch_blob(&self, reference: &Reference, blob: &BlobRef, cache: &BlobCache, bar: &Bar) -> Result<(), PullError> {
        let auth = self.auth(reference).await?;
        self.client.store_auth_if_needed(reference.resolve_registry(), &auth).await;
        self.retry(reference, |_| async {
            bar.reset();
            let file = cache.temp_file().map_err(PullError::Cache)?;
            self.download(reference, blob, &file, bar).await?;
            cache.persist(file, &blob.digest).map_err(PullError::Cache)
        })
        .await
    }

    /// Streams the blob into `file`. oci-client hashes the stream and reports a mismatch as its
    /// last item; we count bytes to refuse oversized bodies early and to retry cut-off ones.
    async fn download(&self, reference: &Reference, blob: &BlobRef, file: &tempfile::NamedTempFile, bar: &Bar) -> Result<(), PullError> {
        let descriptor = OciDescriptor {
            digest: blob.digest.to_string(),
            size: blob.size as i64,
            media_type: blob.media_type.clone(),
            ..Default::default()
        };
        let mut stream = self.client.pull_blob_stream(reference, &descriptor).await.map_err(|e| classify(reference, e))?;
        let std_file = file.as_file().try_clone().map_err(PullError::Cache)?;
        let mut out = tokio::io::BufWriter::with_capacity(256 << 10, tokio::fs::File::from_std(std_file));
        let mut received = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| stream_error(reference, blob, e))?;
            received += chunk.len() as u64;
            if received > blob.size {
                return Err(PullError::TooLarge { image: reference.whole(), digest: blob.digest, declared: blob.size });
            }
            out.write_all(&chunk).await.map_err(PullError::Cache)?;
            bar.inc(chunk.len() as u64);
        }
        out.flush().await.map_err(PullError::Cache)?;
        if received < blob.size {
            let cut = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("blob {} ended after {received} of {} bytes", blob.digest, blob.size),
            );
            return Err(PullError::Transient { image: reference.whole(), source: Box::new(cut) });
        }
        Ok(())
    }
}
