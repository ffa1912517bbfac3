//! Pulling from registries: platform resolution, streamed blob downloads into the cache with
//! size and sha256 checks, anonymous bearer tokens and docker-config credentials, and retries
//! with backoff on 5xx, 429 and dropped connections.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use bundle::{Digest, Platform};
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Mutex;

use crate::auth::{AuthError, DockerConfig};
use crate::cache::BlobCache;
use crate::progress::Bar;

/// Every manifest media type we accept; distribution 2.8 answers 404 for an OCI index
/// unless the index type is in `Accept`.
const ACCEPT: &[&str] = &[OCI_IMAGE_INDEX_MEDIA_TYPE, IMAGE_MANIFEST_LIST_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE];
/// Largest manifest or config we hold in memory (real ones are a few KiB).
const MAX_SMALL_BLOB: u64 = 4 << 20;

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
    /// A transient error, retried by [`Registry::retry`]; never escapes it.
    #[error("transient error pulling `{image}`")]
    Transient {
        /// The pulled reference.
        image: String,
        /// What happened.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A pull-through location for images: `HOST[:PORT][/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    host: String,
    prefix: Option<String>,
}

impl FromStr for Mirror {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains("://") {
            return Err(format!("`{s}`: give HOST[:PORT][/PREFIX] without a scheme (add --plain-http for a mirror without TLS)"));
        }
        let s = s.trim_end_matches('/');
        let (host, prefix) = match s.split_once('/') {
            Some((host, prefix)) => (host, Some(prefix.to_owned())),
            None => (s, None),
        };
        if host.is_empty() || prefix.as_deref() == Some("") {
            return Err(format!("`{s}` is not HOST[:PORT][/PREFIX]"));
        }
        Ok(Self { host: host.to_owned(), prefix })
    }
}

/// Where to pull `name` (a reference as the cluster names it) from: the name itself, or with a
/// mirror, the mirror plus the path below `image_repository` (for catalog images) or below the
/// registry host (for extra images).
pub fn pull_reference(name: &str, image_repository: &str, mirror: Option<&Mirror>) -> Result<Reference, String> {
    let parsed: Reference = name.parse().map_err(|e| format!("image reference `{name}` is invalid: {e}"))?;
    let Some(mirror) = mirror else { return Ok(parsed) };
    let repository = format!("{}/{}", parsed.registry(), parsed.repository());
    let path = repository.strip_prefix(&format!("{}/", image_repository.trim_end_matches('/'))).unwrap_or(parsed.repository());
    let path = match &mirror.prefix {
        Some(prefix) => format!("{prefix}/{path}"),
        None => path.to_owned(),
    };
    Ok(match (parsed.tag(), parsed.digest()) {
        (Some(tag), Some(digest)) => Reference::with_tag_and_digest(mirror.host.clone(), path, tag.to_owned(), digest.to_owned()),
        (None, Some(digest)) => Reference::with_digest(mirror.host.clone(), path, digest.to_owned()),
        (tag, None) => Reference::with_tag(mirror.host.clone(), path, tag.unwrap_or("latest").to_owned()),
    })
}

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

    /// Resolves `reference` to its `linux/<arch>` manifest.
    pub async fn resolve(&self, reference: &Reference, arch: &str, cache: &BlobCache) -> Result<ResolvedImage, PullError> {
        let (bytes, digest) = self.manifest(reference).await?;
        let raw = RawManifest::parse(reference, &bytes)?;
        if let Some(entries) = raw.manifests {
            let entry = select_platform(reference, &entries, arch)?;
            let child = reference.clone_with_digest(entry.digest.to_string());
            let (bytes, child_digest) = self.manifest(&child).await?;
            let platform = entry.platform.clone().map(RawPlatform::into_platform).unwrap_or_else(|| linux(arch));
            return self.image(&child, bytes, child_digest, platform, Some(digest));
        }
        let config = raw.config.as_ref().ok_or_else(|| unsupported(reference, "manifest has no config"))?;
        let config_bytes = self.small_blob(reference, &config.blob()).await?;
        let platform = RawPlatform::from_config(reference, &config_bytes)?;
        if platform.os != "linux" || platform.architecture != arch {
            return Err(PullError::WrongPlatform {
                image: reference.whole(),
                arch: arch.to_owned(),
                found: format!("{}/{}", platform.os, platform.architecture),
            });
        }
        cache.store_bytes(&config.digest, &config_bytes).map_err(PullError::Cache)?;
        self.image(reference, bytes, digest, platform, None)
    }

    fn image(
        &self,
        reference: &Reference,
        manifest: bytes::Bytes,
        digest: Digest,
        platform: Platform,
        index_digest: Option<Digest>,
    ) -> Result<ResolvedImage, PullError> {
        let raw = RawManifest::parse(reference, &manifest)?;
        let (Some(config), Some(layers)) = (raw.config, raw.layers) else {
            return Err(unsupported(reference, "platform entry is not an image manifest"));
        };
        Ok(ResolvedImage {
            source: reference.clone(),
            media_type: raw.media_type.unwrap_or_else(|| OCI_IMAGE_MEDIA_TYPE.to_owned()),
            manifest,
            digest,
            platform,
            index_digest,
            config: config.blob(),
            layers: layers.iter().map(RawDescriptor::blob).collect(),
        })
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

/// A digest mismatch reported by oci-client's verifying stream is final; anything else on the
/// stream (reset, timeout) is worth a retry.
fn stream_error(reference: &Reference, blob: &BlobRef, error: std::io::Error) -> PullError {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<DigestError>()) {
        Some(DigestError::VerificationError { actual, .. }) => {
            PullError::Digest { image: reference.whole(), expected: blob.digest.to_string(), actual: actual.clone() }
        }
        _ => PullError::Transient { image: reference.whole(), source: Box::new(error) },
    }
}

fn check_content(reference: &Reference, blob: &BlobRef, bytes: &[u8]) -> Result<(), PullError> {
    let actual = Digest::of(bytes);
    if actual != blob.digest || bytes.len() as u64 != blob.size {
        return Err(PullError::Digest { image: reference.whole(), expected: blob.digest.to_string(), actual: actual.to_string() });
    }
    Ok(())
}

fn unsupported(reference: &Reference, reason: &str) -> PullError {
    PullError::Unsupported { image: reference.whole(), reason: reason.to_owned() }
}

fn linux(arch: &str) -> Platform {
    Platform { os: "linux".into(), architecture: arch.to_owned(), variant: None }
}

/// Sorts an oci-client error into retryable, not found, unauthorized, corrupt or fatal.
fn classify(reference: &Reference, error: OciDistributionError) -> PullError {
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    media_type: Option<String>,
    manifests: Option<Vec<RawDescriptor>>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
}

impl RawManifest {
    fn parse(reference: &Reference, bytes: &[u8]) -> Result<Self, PullError> {
        let raw: Self = serde_json::from_slice(bytes).map_err(|e| unsupported(reference, &format!("manifest is not valid JSON: {e}")))?;
        if raw.schema_version != 2 {
            return Err(unsupported(reference, "Docker schema 1 manifests are not supported: push the image with a current tool"));
        }
        Ok(raw)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: Digest,
    size: u64,
    platform: Option<RawPlatform>,
}

impl RawDescriptor {
    fn blob(&self) -> BlobRef {
        BlobRef { digest: self.digest, size: self.size, media_type: self.media_type.clone() }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl RawPlatform {
    fn into_platform(self) -> Platform {
        Platform { os: self.os, architecture: self.architecture, variant: self.variant }
    }

    fn from_config(reference: &Reference, config: &[u8]) -> Result<Platform, PullError> {
        let raw: Self =
            serde_json::from_slice(config).map_err(|e| unsupported(reference, &format!("image config has no platform: {e}")))?;
        Ok(raw.into_platform())
    }
}

/// Picks the `linux/<arch>` entry of an index (for arm64, `v8` or no variant first).
fn select_platform<'a>(reference: &Reference, entries: &'a [RawDescriptor], arch: &str) -> Result<&'a RawDescriptor, PullError> {
    let matching: Vec<&RawDescriptor> =
        entries.iter().filter(|e| e.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch)).collect();
    let preferred = matching.iter().find(|e| {
        let variant = e.platform.as_ref().and_then(|p| p.variant.as_deref());
        match arch {
            "arm64" => matches!(variant, None | Some("v8")),
            "arm" => matches!(variant, Some("v7")),
            _ => true,
        }
    });
    preferred.or(matching.first()).copied().ok_or_else(|| PullError::NoPlatform {
        image: reference.whole(),
        arch: arch.to_owned(),
        available: entries
            .iter()
            .filter_map(|e| e.platform.as_ref())
            .map(|p| format!("{}/{}{}", p.os, p.architecture, p.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_replaces_the_image_repository() {
        let m: Mirror = "127.0.0.1:5000".parse().unwrap();
        let r = pull_reference("registry.k8s.io/coredns/coredns:v1.11.3", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "127.0.0.1:5000/coredns/coredns:v1.11.3");
        let m: Mirror = "mirror.example/k8s/".parse().unwrap();
        let r = pull_reference("registry.k8s.io/pause:3.10", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "mirror.example/k8s/pause:3.10");
    }

    #[test]
    fn mirror_keeps_the_repository_path_of_extra_images() {
        let m: Mirror = "127.0.0.1:5000".parse().unwrap();
        let r = pull_reference("docker.io/calico/node:v3.28.0", "registry.k8s.io", Some(&m)).unwrap();
        assert_eq!(r.whole(), "127.0.0.1:5000/calico/node:v3.28.0");
    }

    #[test]
    fn without_mirror_the_name_is_pulled() {
        let r = pull_reference("registry.k8s.io/pause:3.10", "registry.k8s.io", None).unwrap();
        assert_eq!((r.registry(), r.repository(), r.tag()), ("registry.k8s.io", "pause", Some("3.10")));
    }

    #[test]
    fn mirror_refuses_a_scheme() {
        assert!("http://127.0.0.1:5000".parse::<Mirror>().unwrap_err().contains("--plain-http"));
        assert!("".parse::<Mirror>().is_err());
    }

    fn entry(arch: &str, variant: Option<&str>, n: u8) -> RawDescriptor {
        RawDescriptor {
            media_type: OCI_IMAGE_MEDIA_TYPE.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(RawPlatform { os: "linux".into(), architecture: arch.into(), variant: variant.map(Into::into) }),
        }
    }

    #[test]
    fn selects_the_requested_platform() {
        let r: Reference = "r.example/x:1".parse().unwrap();
        let entries = [entry("amd64", None, 1), entry("arm", Some("v6"), 2), entry("arm", Some("v7"), 3), entry("arm64", Some("v8"), 4)];
        assert_eq!(select_platform(&r, &entries, "amd64").unwrap().digest, Digest::of(&[1]));
        assert_eq!(select_platform(&r, &entries, "arm").unwrap().digest, Digest::of(&[3]));
        assert_eq!(select_platform(&r, &entries, "arm64").unwrap().digest, Digest::of(&[4]));
        let err = select_platform(&r, &entries, "s390x").unwrap_err().to_string();
        assert!(err.contains("linux/s390x") && err.contains("linux/arm/v7"), "{err}");
    }
}
