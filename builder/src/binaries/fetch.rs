//! Downloading the node binaries: each file's published checksums first, then the file itself,
//! streamed into the blob cache while sha256 and sha512 are computed, retried like blobs, and
//! refused when a checksum differs. Archives are then unpacked into the cache (`unpack`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use bundle::Digest;
use bundle::manifest::{Binary, BinaryKind, BinarySource, PublishedChecksum};
use futures_util::{StreamExt as _, TryStreamExt as _};

use sha2::Digest as _;
use tokio::io::AsyncWriteExt as _;

use super::{Algorithm, Download, Location, Payload, Sources, unpack};
use crate::cache::BlobCache;
use crate::progress::Progress;
use crate::registry::Retry;

/// Largest checksum file read (real ones are one line).
const MAX_CHECKSUM_FILE: u64 = 4096;
/// Largest binary or archive downloaded (kubelet is about 80 MiB).
const MAX_DOWNLOAD: u64 = 2 << 30;

mod error;
pub use error::{FetchError, Mismatch};

/// Downloads, checks and unpacks every architecture's binaries into the cache; also takes each
/// `--airadm-binary`. Returns each architecture's manifest section, sorted by path.
pub async fn fetch_all(
    sources: &Sources,
    plans: &BTreeMap<String, Vec<Download>>,
    airadm: &BTreeMap<String, PathBuf>,
    cache: &BlobCache,
    retry: Retry,
    jobs: usize,
    progress: &Progress,
) -> Result<BTreeMap<String, Vec<Binary>>, FetchError> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("airbundle/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Transient(Box::new(e)))?;
    let fetcher = Fetcher { client, sources, cache, retry };
    let work = plans.iter().flat_map(|(arch, downloads)| downloads.iter().map(move |d| (arch, d)));
    let fetched: Vec<(String, Vec<Binary>)> = futures_util::stream::iter(work)
        .map(|(arch, download)| {
            let fetcher = &fetcher;
            async move {
                let binaries = fetcher.fetch(download, arch).await?;
                progress.line(&format!("checked {} ({} {})", download.url, download.kind_label(), download.version));
                Ok::<_, FetchError>((arch.clone(), binaries))
            }
        })
        .buffer_unordered(jobs.max(1))
        .try_collect()
        .await?;
    let mut out: BTreeMap<String, Vec<Binary>> = plans.keys().map(|a| (a.clone(), Vec::new())).collect();
    for (arch, binaries) in fetched {
        out.entry(arch).or_default().extend(binaries);
    }
    for (arch, path) in airadm {
        let binaries = out.get_mut(arch).ok_or_else(|| FetchError::Airadm {
            arch: arch.clone(),
            path: path.clone(),
            reason: format!("no bundle is built for {arch}: add --arch {arch}"),
        })?;
        binaries.push(take_airadm(arch, path, cache)?);
    }
    for binaries in out.values_mut() {
        binaries.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(twice) = binaries.windows(2).find(|w| w[0].path == w[1].path) {
            return Err(FetchError::Archive {
                location: Location::Http(twice[1].source.as_ref().map(|s| s.url.clone()).unwrap_or_default()),
                reason: format!("carries `{}`, which another download carries too", twice[1].name),
            });
        }
    }
    Ok(out)
}

impl Download {
    fn kind_label(&self) -> &'static str {
        match self.kind {
            BinaryKind::Kubernetes => "kubernetes",
            BinaryKind::Crictl => "cri-tools",
            BinaryKind::CniPlugin => "cni-plugins",
            BinaryKind::Airadm => "airadm",
        }
    }
}

struct Fetcher<'a> {
    client: reqwest::Client,
    sources: &'a Sources,
    cache: &'a BlobCache,
    retry: Retry,
}

impl Fetcher<'_> {
    async fn fetch(&self, download: &Download, arch: &str) -> Result<Vec<Binary>, FetchError> {
        let location = self.sources.locate(&download.url);
        let file_name = download.url.rsplit('/').next().unwrap_or_default();
        let mut published = Vec::new();
        for algorithm in download.checksums {
            let url = format!("{}.{}", download.url, algorithm.name());
            let checksum = self.sources.locate(&url);
            let bytes = self.get(&checksum, MAX_CHECKSUM_FILE, None).await?;
            let text = String::from_utf8_lossy(&bytes);
            let value = super::parse_checksum(&text, *algorithm, file_name)
                .map_err(|reason| FetchError::ChecksumFile { location: checksum.clone(), reason })?;
            published.push((*algorithm, checksum, PublishedChecksum { algorithm: algorithm.name().into(), url, value }));
        }
        let sha256 = published
            .iter()
            .find(|(a, _, _)| *a == Algorithm::Sha256)
            .and_then(|(_, _, p)| Digest::from_hex(&p.value).ok())
            .ok_or_else(|| FetchError::ChecksumFile { location: location.clone(), reason: "has no sha256 checksum file".into() })?;
        // A cached copy is checked against every published checksum too (a lying .sha512 must
        // not pass because the sha256 named a file already there).
        if !self.cache.has(&sha256) || !self.cached_matches(&sha256, &location, &published).await? {
            self.get(&location, MAX_DOWNLOAD, Some(&published)).await?;
        }
        let source =
            BinarySource { url: download.url.clone(), sha256, member: None, checksums: published.into_iter().map(|(_, _, p)| p).collect() };
        let binary = |name: &str, digest: Digest, member: Option<String>| -> Result<Binary, FetchError> {
            let path = Binary::entry_path(download.kind, name)
                .map_err(|e| FetchError::Archive { location: location.clone(), reason: e.to_string() })?;
            Ok(Binary {
                name: name.to_owned(),
                kind: download.kind,
                version: Some(download.version.clone()),
                os: "linux".into(),
                arch: arch.to_owned(),
                path,
                sha256: digest,
                source: Some(BinarySource { member, ..source.clone() }),
            })
        };
        match &download.payload {
            Payload::File(name) => Ok(vec![binary(name, sha256, None)?]),
            Payload::Archive { required } => {
                let (cache, archive, loc) = (self.cache.clone(), self.cache.path(&sha256), location.clone());
                let required = *required;
                let members = tokio::task::spawn_blocking(move || unpack::unpack(&cache, &archive, &sha256, required, &loc))
                    .await
                    .map_err(|e| FetchError::Transient(Box::new(e)))??;
                members.into_iter().map(|m| binary(&m.name, m.sha256, Some(m.member))).collect()
            }
        }
    }

    /// Reads `location`, retried on transient errors: a checksum file (`checks` none) into
    /// memory, or a download into the cache, checked against its published checksums as it streams.
    async fn get(&self, location: &Location, limit: u64, checks: Option<&[Published]>) -> Result<Vec<u8>, FetchError> {
        let mut delay = self.retry.first_delay;
        for attempt in 1..=self.retry.attempts.max(1) {
            let result = match checks {
                None => self.read_small(location, limit).await,
                Some(checks) => self.download(location, limit, checks).await.map(|()| Vec::new()),
            };
            match result {
                Err(FetchError::Transient(source)) if attempt < self.retry.attempts => {
                    tracing::warn!(%location, attempt, error = %source, "retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(FetchError::Transient(source)) => {
                    return Err(FetchError::Failed { location: location.clone(), attempts: attempt, source });
                }
                other => return other,
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Whether the cached file `sha256` still has that sha256 (else it is evicted: `false`) and
    /// matches the other published checksums (else the mismatch, naming the download).
    async fn cached_matches(&self, sha256: &Digest, location: &Location, checks: &[Published]) -> Result<bool, FetchError> {
        let path = self.cache.path(sha256);
        let io_err = |source| FetchError::Io { location: location.clone(), source };
        let (actual256, actual512) =
            tokio::task::spawn_blocking(move || hash_file(&path)).await.map_err(|e| FetchError::Transient(Box::new(e)))?.map_err(io_err)?;
        if actual256 != sha256.hex() {
            self.cache.evict(sha256).map_err(io_err)?;
            return Ok(false);
        }
        compare(location, checks, &actual256, &actual512).map(|()| true)
    }

    async fn read_small(&self, location: &Location, limit: u64) -> Result<Vec<u8>, FetchError> {
        let mut body = self.open(location).await?;
        let mut out = Vec::new();
        while let Some(chunk) = body.next(location).await? {
            out.extend_from_slice(&chunk);
            if out.len() as u64 > limit {
                return Err(FetchError::ChecksumFile { location: location.clone(), reason: format!("is larger than {limit} bytes") });
            }
        }
        body.check_length(location, out.len() as u64)?;
        Ok(out)
    }

    async fn download(&self, location: &Location, limit: u64, checks: &[Published]) -> Result<(), FetchError> {
        let io_err = |source| FetchError::Io { location: location.clone(), source };
        let mut body = self.open(location).await?;
        let temp = self.cache.temp_file().map_err(io_err)?;
        let mut out =
            tokio::io::BufWriter::with_capacity(256 << 10, tokio::fs::File::from_std(temp.as_file().try_clone().map_err(io_err)?));
        let (mut sha256, mut sha512, mut received) = (sha2::Sha256::new(), sha2::Sha512::new(), 0u64);
        while let Some(chunk) = body.next(location).await? {
            received += chunk.len() as u64;
            if received > limit {
                return Err(FetchError::Archive { location: location.clone(), reason: format!("is larger than {limit} bytes") });
            }
            sha256.update(&chunk);
            sha512.update(&chunk);
            out.write_all(&chunk).await.map_err(io_err)?;
        }
        out.flush().await.map_err(io_err)?;
        body.check_length(location, received)?;
        let actual256 = hex::encode(sha256.finalize());
        let actual512 = hex::encode(sha512.finalize());
        compare(location, checks, &actual256, &actual512)?;
        let digest =
            Digest::from_hex(&actual256).map_err(|e| FetchError::Io { location: location.clone(), source: io::Error::other(e.0) })?;
        self.cache.persist(temp, &digest).map_err(io_err)
    }

    async fn open(&self, location: &Location) -> Result<Body, FetchError> {
        match location {
            Location::File(path) => match tokio::fs::File::open(path).await {
                Ok(file) => Ok(Body::File(file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FetchError::NotFound(location.clone())),
                Err(source) => Err(FetchError::Io { location: location.clone(), source }),
            },
            Location::Http(url) => {
                let response = self.client.get(url).send().await.map_err(|e| FetchError::Transient(Box::new(e)))?;
                let status = response.status().as_u16();
                match status {
                    200 => {
                        let length = response.content_length();
                        Ok(Body::Http(response, length))
                    }
                    404 | 410 => Err(FetchError::NotFound(location.clone())),
                    408 | 429 | 500.. => Err(FetchError::Transient(format!("{location}: HTTP {status}").into())),
                    _ => Err(FetchError::Status { location: location.clone(), status }),
                }
            }
        }
    }
}

/// Every published checksum against the computed digests.
fn compare(location: &Location, checks: &[Published], actual256: &str, actual512: &str) -> Result<(), FetchError> {
    for (algorithm, checksum, published) in checks {
        let actual = match algorithm {
            Algorithm::Sha256 => actual256,
            Algorithm::Sha512 => actual512,
        };
        if actual != published.value {
            return Err(FetchError::Mismatch(Box::new(Mismatch {
                location: location.clone(),
                algorithm: algorithm.name(),
                actual: actual.to_owned(),
                checksum: checksum.clone(),
                expected: published.value.clone(),
            })));
        }
    }
    Ok(())
}

/// sha256 and sha512 of a file, in hex.
fn hash_file(path: &Path) -> io::Result<(String, String)> {
    let mut file = fs_err::File::open(path)?;
    let (mut sha256, mut sha512) = (sha2::Sha256::new(), sha2::Sha512::new());
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        sha512.update(&buf[..n]);
    }
    Ok((hex::encode(sha256.finalize()), hex::encode(sha512.finalize())))
}

/// A published checksum: its algorithm, where it was read, and the manifest record.
type Published = (Algorithm, Location, PublishedChecksum);

/// A response body or a local file, read in chunks.
enum Body {
    Http(reqwest::Response, Option<u64>),
    File(tokio::fs::File),
}

impl Body {
    async fn next(&mut self, location: &Location) -> Result<Option<bytes::Bytes>, FetchError> {
        match self {
            // A connection cut before Content-Length is an error here: retried.
            Self::Http(response, _) => response.chunk().await.map_err(|e| FetchError::Transient(Box::new(e))),
            Self::File(file) => {
                let mut buf = vec![0u8; 256 << 10];
                let n = tokio::io::AsyncReadExt::read(file, &mut buf)
                    .await
                    .map_err(|source| FetchError::Io { location: location.clone(), source })?;
                buf.truncate(n);
                Ok((n > 0).then(|| bytes::Bytes::from(buf)))
            }
        }
    }

    /// A body shorter than its Content-Length (which hyper may let pass as a clean end).
    fn check_length(&self, location: &Location, received: u64) -> Result<(), FetchError> {
        match self {
            Self::Http(_, Some(length)) if *length != received => {
                Err(FetchError::Transient(format!("{location} ended after {received} of {length} bytes").into()))
            }
            _ => Ok(()),
        }
    }
}

/// `--airadm-binary ARCH=PATH`: an ELF executable for ARCH, copied into the cache.
fn take_airadm(arch: &str, path: &Path, cache: &BlobCache) -> Result<Binary, FetchError> {
    let bad = |reason: String| FetchError::Airadm { arch: arch.to_owned(), path: path.to_owned(), reason };
    let mut file = fs_err::File::open(path).map_err(|e| bad(e.to_string()))?;
    let elf = super::elf::read(&mut file).map_err(|e| bad(e.to_string()))?.ok_or_else(|| bad("is not an ELF executable".into()))?;
    if Some(elf.machine) != super::elf::machine_of(arch) {
        return Err(bad(format!("is an ELF executable for machine {}, not for {arch}", elf.machine)));
    }
    if elf.dynamic {
        tracing::warn!(
            "--airadm-binary {arch}={}: is dynamically linked: it runs only on nodes with the libc it was built against (the static release build, .ci/dist.sh, runs on any)",
            path.display()
        );
    }
    io::Seek::rewind(&mut file).map_err(|e| bad(e.to_string()))?;
    let location = Location::File(path.to_owned());
    let io_err = |source| FetchError::Io { location: location.clone(), source };
    let mut temp = cache.temp_file().map_err(io_err)?;
    let mut hashing = bundle::digest::HashingReader::new(file);
    io::copy(&mut hashing, &mut temp).map_err(io_err)?;
    let (sha256, _, _) = hashing.finish();
    cache.persist(temp, &sha256).map_err(io_err)?;
    Ok(Binary {
        name: "airadm".into(),
        kind: BinaryKind::Airadm,
        version: None,
        os: "linux".into(),
        arch: arch.to_owned(),
        path: Binary::entry_path(BinaryKind::Airadm, "airadm").map_err(|e| bad(e.to_string()))?,
        sha256,
        source: None,
    })
}
