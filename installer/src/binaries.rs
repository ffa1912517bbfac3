//! The node's own binaries from the bundle (`airadm binaries install|list`, and `init`'s
//! `binaries` phase): kubelet, kubectl, kubeadm, crictl and airadm into `/usr/local/bin` (or
//! `--bin-dir`), the CNI plugins into `/opt/cni/bin`, under `--rootfs` when given.
//!
//! One verifying pass over the bundle: each binary to install streams into a temp file beside its
//! final path; only when the whole bundle checked out are they renamed into place (mode 0755),
//! so a refused bundle leaves the node as it was. A file already identical is left alone; a
//! different one is reported and kept unless `--force-binaries`. Then the kubelet's systemd unit
//! and kubeadm's drop-in, pointing at the installed kubelet, and `systemctl daemon-reload` and
//! `enable kubelet` where systemd runs.

mod version;

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use bundle::manifest::{Binary, BinaryKind};
use bundle::{Digest, Entry, EntryPath, EntrySink, Manifest, PublicKey, VerifyError};

use crate::kubeadm::files::{PUBLIC, Root, Staged};
use crate::kubeadm::{initsystem, kubelet};

/// Where the node binaries go by default (a local administrator's, not a package's, directory).
pub const DEFAULT_BIN_DIR: &str = "/usr/local/bin";
/// Where the kubelet looks for CNI plugins (kubeadm's packages put them there).
pub const CNI_BIN_DIR: &str = "/opt/cni/bin";

/// What to install, and where.
pub struct InstallOptions {
    /// The bundle (named in messages).
    pub bundle: PathBuf,
    /// The bundle, already open (read from its start).
    pub opened: std::fs::File,
    /// The signed manifest the caller acts on; a bundle reading otherwise is refused.
    pub expected: Option<Manifest>,
    /// Its detached signature, if any.
    pub file_signature: Option<String>,
    /// Trusted keys.
    pub keys: Vec<PublicKey>,
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
    if !options.root.dir().is_dir() {
        return Err(BinariesError::NoRoot(options.root.dir().to_owned()));
    }
    let mut file = options.opened.try_clone().map_err(|e| BinariesError::Open(options.bundle.clone(), e))?;
    io::Seek::rewind(&mut file).map_err(|e| BinariesError::Open(options.bundle.clone(), e))?;
    let mut sink = Stage { options, plan: BTreeMap::new(), staged: Vec::new(), created_dirs: Vec::new() };
    let result =
        bundle::verify_stream(io::BufReader::with_capacity(1 << 20, file), &options.keys, options.file_signature.as_deref(), &mut sink);
    let Stage { plan, staged, created_dirs, .. } = sink;
    let verified = match result {
        Ok(verified) => verified,
        Err(source) => {
            // The staged files go first (dropped), then the directories made for them.
            drop(staged);
            for dir in created_dirs.iter().rev() {
                let _ = options.root.remove_empty_dir(dir);
            }
            return Err(BinariesError::Verify { bundle: options.bundle.clone(), source });
        }
    };
    for (destination, file) in staged {
        file.commit().map_err(|e| BinariesError::Commit(destination, e))?;
    }
    let mut outcomes: Vec<Outcome> = plan.into_values().collect();
    outcomes.sort_by(|a, b| a.destination.cmp(&b.destination));
    let mut lines: Vec<String> = outcomes.iter().map(|o| line(o, &verified.manifest)).collect();
    if verified.manifest.binaries.is_empty() {
        lines.push(format!("[binaries] `{}` carries no binaries (built with --no-binaries)", options.bundle.display()));
    }
    if let Some(kubelet) = outcomes.iter().find(|o| o.binary.kind == BinaryKind::Kubernetes && o.binary.name == "kubelet") {
        if options.dry_run {
            lines.push(format!("[binaries] Would write the kubelet unit \"{}\" and drop-in \"{}\"", kubelet::UNIT, kubelet::DROP_IN));
        } else {
            let written = write_units(&options.root, &kubelet.destination).map_err(|e| BinariesError::Commit(kubelet::UNIT.into(), e))?;
            lines.extend(written);
            lines.extend(initsystem::enable_kubelet(&options.root));
        }
    }
    Ok((outcomes, lines))
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

/// The sink: decides each binary's fate once the manifest is trusted, then streams those to
/// install into staged files.
struct Stage<'a> {
    options: &'a InstallOptions,
    plan: BTreeMap<EntryPath, Outcome>,
    staged: Vec<(String, Staged)>,
    /// Directories staging created, parents first (removed again if the bundle is refused).
    created_dirs: Vec<String>,
}

impl EntrySink for Stage<'_> {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        crate::import::gate(&self.options.arch, self.options.expected.as_ref(), manifest)
            .map_or(Ok(()), |why| Err(io::Error::other(why)))?;
        for binary in &manifest.binaries {
            let destination = destination(binary, &self.options.bin_dir);
            self.options.root.check("--bin-dir", &destination)?;
            let status = match existing_digest(&self.options.root, &destination)? {
                None if self.options.dry_run => Status::WouldInstall,
                None => Status::Installed,
                Some(d) if d == binary.sha256 => Status::UpToDate,
                Some(_) => {
                    let was = version::of(&self.options.root, &destination, binary);
                    match (self.options.force, self.options.dry_run) {
                        (false, _) => Status::Kept(was),
                        (true, true) => Status::WouldInstall,
                        (true, false) => Status::Replaced(was),
                    }
                }
            };
            self.plan.insert(binary.path.clone(), Outcome { binary: binary.clone(), destination, status });
        }
        Ok(())
    }

    fn entry(&mut self, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let Some(outcome) = self.plan.get(&entry.path) else { return Ok(()) };
        if !matches!(outcome.status, Status::Installed | Status::Replaced(_)) {
            return Ok(());
        }
        let mut dirs: Vec<String> = Path::new(&outcome.destination)
            .ancestors()
            .skip(1)
            .filter(|d| *d != Path::new("/") && !self.options.root.exists(d))
            .map(|d| d.display().to_string())
            .collect();
        dirs.reverse();
        let mut staged = self.options.root.stage(&outcome.destination, 0o755)?;
        self.created_dirs.extend(dirs);
        io::copy(data, staged.writer())?;
        self.staged.push((outcome.destination.clone(), staged));
        Ok(())
    }
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
