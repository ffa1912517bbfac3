//! [`Staging`]: the entry sink of a verifying pass that installs binaries. Once the manifest is
//! trusted it decides each binary's fate; the binaries to install stream into temp files beside
//! their final paths; [`Staging::commit`], called only when the whole bundle checked out, renames
//! them into place. Dropped uncommitted, it removes its temp files and the directories it made.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use bundle::manifest::BinaryKind;
use bundle::{Entry, EntryPath, EntrySink, Manifest};

use super::{BinariesError, Outcome, Status, Target, destination, existing_digest, line, version, write_units};
use crate::kubeadm::files::Staged;
use crate::kubeadm::{initsystem, kubelet};

/// The binaries of one verifying pass, staged until [`Staging::commit`].
pub struct Staging {
    target: Target,
    plan: BTreeMap<EntryPath, Outcome>,
    staged: Vec<(String, Staged)>,
    /// Directories staging created, parents first (removed again if the bundle is refused).
    created_dirs: Vec<String>,
}

impl Staging {
    /// A pass installing into `target` (its root must be a directory).
    pub fn new(target: Target) -> Result<Self, BinariesError> {
        if !target.root.dir().is_dir() {
            return Err(BinariesError::NoRoot(target.root.dir().to_owned()));
        }
        Ok(Self { target, plan: BTreeMap::new(), staged: Vec::new(), created_dirs: Vec::new() })
    }

    /// Whether `path` is one of the manifest's binaries (known once [`EntrySink::begin`] ran).
    pub fn wants(&self, path: &EntryPath) -> bool {
        self.plan.contains_key(path)
    }

    /// The bundle (`manifest`, read from `bundle`) checked out: the staged binaries go into
    /// place, then the kubelet's unit and drop-in. Returns each binary's outcome and the lines
    /// to print.
    pub fn commit(mut self, manifest: &Manifest, bundle: &Path) -> Result<(Vec<Outcome>, Vec<String>), BinariesError> {
        // Committed files keep the directories made for them.
        self.created_dirs.clear();
        for (destination, file) in std::mem::take(&mut self.staged) {
            file.commit().map_err(|e| BinariesError::Commit(destination, e))?;
        }
        let mut outcomes: Vec<Outcome> = std::mem::take(&mut self.plan).into_values().collect();
        outcomes.sort_by(|a, b| a.destination.cmp(&b.destination));
        let mut lines: Vec<String> = outcomes.iter().map(|o| line(o, manifest)).collect();
        if manifest.binaries.is_empty() {
            lines.push(format!("[binaries] `{}` carries no binaries (built with --no-binaries)", bundle.display()));
        }
        if let Some(kubelet) = outcomes.iter().find(|o| o.binary.kind == BinaryKind::Kubernetes && o.binary.name == "kubelet") {
            let root = &self.target.root;
            if self.target.dry_run {
                lines.push(format!("[binaries] Would write the kubelet unit \"{}\" and drop-in \"{}\"", kubelet::UNIT, kubelet::DROP_IN));
            } else {
                let written = write_units(root, &kubelet.destination).map_err(|e| BinariesError::Commit(kubelet::UNIT.into(), e))?;
                lines.extend(written);
                lines.extend(initsystem::enable_kubelet(root));
            }
        }
        Ok((outcomes, lines))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // The staged files go first, then the directories made for them.
        self.staged.clear();
        for dir in self.created_dirs.iter().rev() {
            let _ = self.target.root.remove_empty_dir(dir);
        }
    }
}

impl EntrySink for Staging {
    fn begin(&mut self, manifest: &Manifest) -> io::Result<()> {
        let target = &self.target;
        crate::import::gate(&target.arch, target.expected.as_ref(), manifest).map_or(Ok(()), |why| Err(io::Error::other(why)))?;
        for binary in &manifest.binaries {
            let destination = destination(binary, &target.bin_dir);
            target.root.check("--bin-dir", &destination)?;
            let status = match existing_digest(&target.root, &destination)? {
                None if target.dry_run => Status::WouldInstall,
                None => Status::Installed,
                Some(d) if d == binary.sha256 => Status::UpToDate,
                Some(_) => {
                    let was = version::of(&target.root, &destination, binary);
                    match (target.force, target.dry_run) {
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
        let root = &self.target.root;
        let mut dirs: Vec<String> = Path::new(&outcome.destination)
            .ancestors()
            .skip(1)
            .filter(|d| *d != Path::new("/") && !root.exists(d))
            .map(|d| d.display().to_string())
            .collect();
        dirs.reverse();
        let mut staged = root.stage(&outcome.destination, 0o755)?;
        self.created_dirs.extend(dirs);
        io::copy(data, staged.writer())?;
        self.staged.push((outcome.destination.clone(), staged));
        Ok(())
    }
}
