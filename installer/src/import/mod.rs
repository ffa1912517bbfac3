//! `airadm images import`: verify a bundle and import its images into containerd in one
//! streaming pass. Blobs stream straight into the content store (under a lease, with expected
//! digests); nothing is named or unpacked until the whole bundle has checked out; on failure the
//! lease is dropped and containerd is left as it was.

mod containerd;
mod sink;
mod staged;
mod unpack;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;

use bundle::{Digest, Manifest, PublicKey, VerifyError};

use crate::progress::Step;
use crate::runtime::containerd::{ContainerdError, UnpackError};
use crate::runtime::cri::{Cri, CriError};

/// What to import, and how.
pub struct ImportOptions {
    /// The bundle (named in messages; read unless `opened` is given).
    pub bundle: PathBuf,
    /// The bundle, already open: read from its start instead of opening `bundle` again.
    pub opened: Option<std::fs::File>,
    /// The signed manifest the caller already checked and acts on: a bundle reading otherwise
    /// is refused before anything of it is used.
    pub expected: Option<Manifest>,
    /// Its detached signature, if any.
    pub file_signature: Option<String>,
    /// Trusted keys.
    pub keys: Vec<PublicKey>,
    /// The CRI socket (containerd's).
    pub socket: PathBuf,
    /// Snapshotter to unpack into (default: the CRI plugin's).
    pub snapshotter: Option<String>,
    /// Architecture to accept (default: this node's).
    pub arch: String,
    /// Verify and report only.
    pub dry_run: bool,
    /// The runtime, when forced (`--runtime`); else asked over CRI.
    pub runtime: Option<String>,
    /// Where CRI-O imports stage the layout (a temp dir inside it, removed afterwards).
    pub staging_dir: PathBuf,
    /// No progress output.
    pub quiet: bool,
    /// The Docker Engine socket (cri-dockerd's images live there).
    pub docker_socket: PathBuf,
    /// CRI-O's configuration directory (`crio.conf`, `crio.conf.d/`), read for its sandbox image.
    pub crio_config_dir: PathBuf,
    /// Node binaries to stage in the same verifying pass, handed back in the report for the
    /// `binaries` phase to commit (dropped uncommitted when the import fails).
    pub binaries: Option<crate::binaries::Staging>,
}

impl ImportOptions {
    /// What every sink refuses first.
    fn gate(&self) -> sink::Gate {
        sink::Gate { arch: self.arch.clone(), expected: self.expected.clone() }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// Reference.
    pub name: String,
    /// Platform manifest digest.
    pub digest: Digest,
    /// Bytes.
    pub size: u64,
    /// `imported`, `present`, `would import`.
    pub status: String,
}

/// Why an import failed (nothing was named in the runtime).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The socket does not answer.
    #[error("container runtime socket `{}` does not answer: is the runtime running? (choose another with --cri-socket)", socket.display())]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// Not containerd.
    #[error("the runtime behind `{}` is {runtime}: airadm imports into containerd, CRI-O and cri-dockerd only", socket.display())]
    Unsupported {
        /// The socket.
        socket: PathBuf,
        /// CRI runtime name.
        runtime: String,
    },
    /// The bundle failed verification (or storing an entry failed).
    #[error("`{}`", bundle.display())]
    Verify {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        #[source]
        source: VerifyError,
    },
    /// A containerd call failed.
    #[error(transparent)]
    Containerd(#[from] ContainerdError),
    /// containerd refused a blob the bundle's verification accepted.
    #[error(
        "containerd refused bundle entry `{entry}` although it matches the signed manifest: run the import again, and check containerd's log if it persists"
    )]
    Refused {
        /// The entry.
        entry: bundle::EntryPath,
        /// containerd's answer.
        #[source]
        source: ContainerdError,
    },
    /// Unpacking a layer failed.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// `AIRADM_APPLIER` is neither `airadm` nor `containerd`.
    #[error("AIRADM_APPLIER=`{0}`: use `airadm` (the default) or `containerd`")]
    Applier(String),
    /// A CRI call failed.
    #[error(transparent)]
    Cri(#[from] CriError),
    /// The CRI-O path failed.
    #[error(transparent)]
    Crio(#[from] crate::runtime::crio::CrioError),
    /// The cri-dockerd path failed.
    #[error(transparent)]
    Docker(#[from] crate::runtime::docker::DockerError),
    /// An image manifest or config in the bundle could not be read.
    #[error("image `{image}`: {reason}")]
    Image {
        /// The image.
        image: String,
        /// Why.
        reason: String,
    },
    /// The kubelet would not see some images.
    #[error("the runtime does not show {0} after the import: the kubelet would try to pull them")]
    NotVisible(String),
    /// Opening the bundle failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The blocking verification thread died.
    #[error("internal error: {0}")]
    Join(String),
}

/// This node's architecture, in Go's words.
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The outcome of an import.
pub struct ImportReport {
    /// One line per image.
    pub images: Vec<ImportedImage>,
    /// Set when the runtime's sandbox image is not the bundle's (or cannot be told).
    pub sandbox: Option<SandboxAdvice>,
    /// Whether the images were checked over the CRI socket (not when no socket answers).
    pub cri_checked: bool,
    /// The binaries staged in the same pass, from a bundle that checked out (not yet committed).
    pub binaries: Option<crate::binaries::Staging>,
}

/// The runtime would pull its own sandbox (pause) image at the first pod: what to change.
#[derive(Debug)]
pub struct SandboxAdvice {
    /// `containerd`, `CRI-O`, `cri-dockerd`.
    pub runtime: &'static str,
    /// What it is configured with, when known.
    pub configured: Option<String>,
    /// Whether the runtime says what it is configured with (containerd from 2.1 on does not:
    /// its CRI status leaves the image config out), so that `configured: None` means "not set".
    pub reported: bool,
    /// The bundle's pause image.
    pub bundle: String,
    /// What to do, possibly followed by a config drop-in.
    pub fix: String,
}

/// Advice when `configured` is not the bundle's pause image (`reported`: whether the runtime
/// says its sandbox image at all).
pub(crate) fn sandbox_advice(
    runtime: &'static str,
    configured: Option<String>,
    reported: bool,
    manifest: &Manifest,
    fix: impl FnOnce(&str) -> String,
) -> Option<SandboxAdvice> {
    let bundle = manifest.images.iter().find(|i| i.component == "pause")?.name.clone();
    (configured.as_deref() != Some(bundle.as_str())).then(|| SandboxAdvice { runtime, configured, reported, fix: fix(&bundle), bundle })
}

impl SandboxAdvice {
    /// What the runtime's sandbox image is, in words: `is IMAGE`, `is not set …`, or unknown.
    pub fn configured_words(&self) -> String {
        match (&self.configured, self.reported) {
            (Some(image), _) => format!("is {image}"),
            (None, true) => "is not set (its built-in default applies)".to_owned(),
            (None, false) => "is not reported over CRI (make sure it is the bundle's)".to_owned(),
        }
    }
}

/// The bundle's drop-in `path`, with how to install it.
pub(crate) fn drop_in_fix(configs: &BTreeMap<String, String>, path: &str, install: &str) -> String {
    match configs.get(path) {
        Some(text) => format!("{install} (the bundle's {path}):\n\n{text}"),
        None => format!("{install} ({path} is not in this bundle)"),
    }
}

/// Runs the import.
pub async fn import(options: ImportOptions) -> Result<ImportReport, ImportError> {
    if matches!(options.runtime.as_deref(), Some("cri-o" | "docker")) {
        return staged::import(options).await;
    }
    let channel = containerd_client::connect(&options.socket)
        .await
        .map_err(|source| ImportError::Connect { socket: options.socket.clone(), source })?;
    let mut cri = Cri::new(channel.clone());
    let (runtime, version) = cri.version().await?;
    if runtime == "cri-o" || runtime == "docker" {
        let options = ImportOptions { runtime: Some(runtime), ..options };
        return staged::import(options).await;
    }
    if runtime != "containerd" {
        return Err(ImportError::Unsupported { socket: options.socket.clone(), runtime });
    }
    containerd::import(options, channel, cri, &version).await
}

/// Ends the reading step: silently when verification failed (the error says why).
pub(crate) fn checked(
    result: Result<bundle::Verified, VerifyError>,
    reading: &Step,
    bundle: PathBuf,
) -> Result<bundle::Verified, ImportError> {
    match result {
        Ok(verified) => {
            reading.finish("bytes");
            Ok(verified)
        }
        Err(source) => {
            reading.abandon();
            Err(ImportError::Verify { bundle, source })
        }
    }
}

/// Why a bundle that verified must still not be used: another architecture than `arch`, or
/// another manifest than the `expected` one the caller acts on.
pub(crate) fn gate(arch: &str, expected: Option<&Manifest>, manifest: &Manifest) -> Option<String> {
    sink::Gate { arch: arch.to_owned(), expected: expected.cloned() }.refusal(manifest)
}

/// Opens the bundle (or stdin for `-`), counting what is read on a progress step.
pub(crate) fn open_bundle(options: &ImportOptions) -> Result<(Box<dyn Read + Send>, Step), ImportError> {
    let (file, size): (Box<dyn Read + Send>, u64) = match (&options.opened, options.bundle.to_str()) {
        (Some(opened), _) => {
            let mut file = opened.try_clone()?;
            io::Seek::rewind(&mut file)?;
            let size = file.metadata()?.len();
            (Box::new(file), size)
        }
        (None, Some("-")) => (Box::new(io::stdin()), 0),
        (None, _) => {
            let file = fs_err::File::open(&options.bundle)?;
            let size = file.metadata()?.len();
            (Box::new(file), size)
        }
    };
    let step = Step::start("verifying", size, true, options.quiet);
    Ok((Box::new(step.reader(file)), step))
}

/// Asks the runtime over CRI for every bundle image; fails naming those the kubelet would not
/// see as the bundle has them.
pub(crate) async fn check_visible(cri: &mut Cri, manifest: &Manifest) -> Result<(), ImportError> {
    let answers = crate::runtime::cri::held(cri, &manifest.images).await?;
    let not_held = crate::runtime::cri::not_held(&answers);
    if not_held.is_empty() { Ok(()) } else { Err(ImportError::NotVisible(not_held)) }
}
