//! The node's own binaries from the bundle (`airadm binaries install|list`, and `init`'s
//! `binaries` phase): kubelet, kubectl, kubeadm, crictl and airadm into `/usr/local/bin` (or
//! `--bin-dir`), the CNI plugins into `/opt/cni/bin`, under `--rootfs` when given.
//!
//! One verifying pass over the bundle (its own, or the `import` phase's when both run: see
//! [`Staging`]): each binary to install streams into a temp file beside its final path; only
//! when the whole bundle checked out are they renamed into place (mode 0755), so a refused
//! bundle leaves the node as it was. A file already identical is left alone; a
//! different one is reported and kept unless `--force-binaries`. Then the kubelet's systemd unit
//! and kubeadm's drop-in, pointing at the installed kubelet, and `systemctl daemon-reload` and
//! `enable kubelet` where systemd runs.

mod stage;
mod version;

pub use stage::Staging;

use std::io;
use std::path::PathBuf;

use bundle::manifest::{Binary, BinaryKind};
use bundle::{Digest, Manifest, PublicKey, VerifyError};

use crate::kubeadm::files::{PUBLIC, Root};
use crate::kubeadm::kubelet;

/// Where the node binaries go by default (a local administrator's, not a package's, directory).
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";
/// Where the kubelet looks for CNI plugins (kubeadm's packages put them there).
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";

/// A bundle to install from.
pub struct InstallOptions {
    /// The bundle (named in messages).
    pub bundle: PathBuf,
    /// The bundle, already open (read from its start).
    pub opened: std::fs::File,
    /// Its detached signature, if any.
    pub file_signature: Option<String>,
    /// Trusted keys.
    pub keys: Vec<PublicKey>,
    /// What to install, and where.
    pub target: Target,
}

/// What a verifying pass installs, and where (also given to `import`, whose pass can stage the
/// binaries as well: see [`Staging`]).
#[derive(Clone)]
pub struct Target {
    /// The signed manifest the caller acts on; a bundle reading otherwise is refused.
    pub expected: Option<Manifest>,
    /// Architecture to accept.
    pub arch: String,
    /// `/` or `--rootfs`.
    pub root: Root,
    /// `--bin-dir` (a node path).
    pub bin_dir: String,
    /// `--force-binaries`: replace a different existing binary.
    pub force: bool,
    /// Verify and say what would change, change nothing.
    pub dry_run: bool,
}

/// What happened to one binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It was not there; now it is.
    Installed,
    /// Another file was there and `--force-binaries` replaced it.
    Replaced(Option<String>),
    /// The same file was there.
    UpToDate,
    /// Another file is there and stays (its version, when it says one).
    Kept(Option<String>),
    /// `--dry-run`: it would be installed or replaced.
    WouldInstall,
}

/// One binary of the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The manifest's record.
    pub binary: Binary,
    /// Its node path.
    pub destination: String,
    /// What happened.
    pub status: Status,
}

/// Why nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    /// `--rootfs` names no directory.
    #[error("--rootfs `{}` is not a directory: create it, or leave --rootfs out to install on this node", .0.display())]
    NoRoot(PathBuf),
    /// The bundle failed verification, or a file could not be written.
    #[error("`{}`", bundle.display())]
    Verify {
        /// The bundle.
        bundle: PathBuf,
        /// Why.
        #[source]
        source: VerifyError,
    },
    /// A binary verified but could not be put in place.
    #[error("failed to install {0}")]
    Commit(String, #[source] io::Error),
    /// Reading the bundle failed.
    #[error("failed to read `{}`", .0.display())]
    Open(PathBuf, #[source] io::Error),
}

/// The node path of `binary` with `bin_dir` for the non-CNI ones.
pub fn destination(binary: &Binary, bin_dir: &str) -> String {
    let dir = if binary.kind == BinaryKind::CniPlugin { CNI_BIN_DIR } else { bin_dir };
    format!("{}/{}", dir.trim_end_matches('/'), binary.name)
}

/// sha256 of a node file, `None` when it does not exist.
pub fn existing_digest(root: &Root, path: &str) -> io::Result<Option<Digest>> {
    let Some(file) = root.open(path)? else { return Ok(None) };
    let mut hashing = bundle::digest::HashingReader::new(io::BufReader::with_capacity(256 << 10, file));
    io::copy(&mut hashing, &mut io::sink())?;
    Ok(Some(hashing.finish().0))
}

/// Verifies the bundle and installs its binaries (blocking). Returns each binary's outcome and the
/// lines to print.
pub fn install(options: &InstallOptions) -> Result<(Vec<Outcome>, Vec<String>), BinariesError> {
    let mut staging = Staging::new(options.target.clone())?;
    let open = |e| BinariesError::Open(options.bundle.clone(), e);
    let mut file = options.opened.try_clone().map_err(open)?;
    io::Seek::rewind(&mut file).map_err(open)?;
    let reader = io::BufReader::with_capacity(1 << 20, file);
    // A refused bundle drops `staging`: its files go, then the directories made for them.
    let verified = bundle::verify_stream(reader, &options.keys, options.file_signature.as_deref(), &mut staging)
        .map_err(|source| BinariesError::Verify { bundle: options.bundle.clone(), source })?;
    staging.commit(&verified.manifest, &options.bundle)
}

fn line(outcome: &Outcome, manifest: &Manifest) -> String {
    let version = outcome.binary.version.as_deref().unwrap_or(&manifest.builder.version);
    let (name, dest) = (&outcome.binary.name, &outcome.destination);
    match &outcome.status {
        Status::Installed => format!("[binaries] Installed {name} {version} to \"{dest}\""),
        Status::Replaced(was) => {
            format!("[binaries] Replaced \"{dest}\" ({}) with {name} {version}", was.as_deref().unwrap_or("another build"))
        }
        Status::UpToDate => format!("[binaries] \"{dest}\" is {name} {version} already"),
        Status::Kept(was) => format!(
            "[binaries] WARNING: kept \"{dest}\" ({}): it is not the bundle's {name} {version}; pass --force-binaries to replace it",
            was.as_deref().unwrap_or("version unknown")
        ),
        Status::WouldInstall => format!("[binaries] Would install {name} {version} to \"{dest}\""),
    }
}

/// The kubelet unit and drop-in for the kubelet at `kubelet`; identical files are left alone.
fn write_units(root: &Root, kubelet: &str) -> io::Result<Vec<String>> {
    let mut lines = Vec::new();
    for (path, text) in [(kubelet::UNIT, kubelet::unit_text(kubelet)), (kubelet::DROP_IN, kubelet::drop_in_text(kubelet))] {
        if root.read(path)?.as_deref() != Some(text.as_bytes()) {
            root.write(path, text.as_bytes(), PUBLIC)?;
            lines.push(format!(
                "[binaries] Wrote the kubelet systemd {} \"{path}\"",
                if path == kubelet::UNIT { "unit" } else { "drop-in" }
            ));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cni_plugins_go_to_opt_cni_bin_and_the_rest_to_the_bin_dir() {
        let binary = |kind, name: &str| Binary {
            name: name.into(),
            kind,
            version: None,
            os: "linux".into(),
            arch: "amd64".into(),
            path: Binary::entry_path(kind, name).unwrap(),
            sha256: Digest::of(b""),
            source: None,
        };
        assert_eq!(destination(&binary(BinaryKind::CniPlugin, "bridge"), "/usr/local/bin"), "/opt/cni/bin/bridge");
        assert_eq!(destination(&binary(BinaryKind::Kubernetes, "kubelet"), "/opt/k/bin/"), "/opt/k/bin/kubelet");
    }
}
