//! kubeadm's `--patches DIR` / `patches.directory` (kubeadm: cmd/kubeadm/app/util/patches/patches.go):
//! files named `target[suffix][+patchtype].{json,yaml}` patch a generated document — the
//! static Pods (`etcd`, `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`),
//! `kubeletconfiguration` and `corednsdeployment` — in file-name order, one patch per YAML
//! document in a file. Types: `strategic` (default), `merge` (RFC 7386), `json` (RFC 6902).
//!
//! Differences from kubeadm: sub-directories are not descended into (kubeadm's `filepath.Walk`
//! does, though its comment says it ignores them); strategic merge knows the Pod lists only.

mod strategic;

use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The targets kubeadm knows (`patches.KnownTargets()`), in its order.
pub const KNOWN_TARGETS: [&str; 6] =
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeletconfiguration", "corednsdeployment"];

/// A patch directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The directory could not be listed (or is not a directory).
    #[error("could not list patch files for path \"{}\"", dir.display())]
    ReadDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A patch file could not be read.
    #[error("could not read the file \"{}\"", file.display())]
    ReadFile {
        /// The file.
        file: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file name names a target but no valid patch type after `+`.
    #[error("patch file \"{}\": unknown or missing patch type after '+', must be one of [json merge strategic]", file.display())]
    PatchType {
        /// The file.
        file: PathBuf,
    },
    /// A patch document is not YAML or JSON (or not a patch of its type).
    #[error("patch file \"{}\": could not convert patch to JSON: {message}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A patch did not apply.
    #[error("could not apply the patch in \"{}\" of type \"{}\" to target \"{target}\": {message}", file.display(), kind.content_type())]
    Apply {
        /// The file.
        file: PathBuf,
        /// The patch type.
        kind: PatchKind,
        /// The target.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// `apply` was asked for a target kubeadm does not know.
    #[error(
        "unknown patch target name \"{0}\", must be one of [etcd kube-apiserver kube-controller-manager kube-scheduler kubeletconfiguration corednsdeployment]"
    )]
    UnknownTarget(String),
}

/// A patch type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// Strategic merge patch (`+strategic`, the default).
    Strategic,
    /// JSON merge patch, RFC 7386 (`+merge`).
    Merge,
    /// JSON patch, RFC 6902 (`+json`).
    Json,
}

impl PatchKind {
    /// The type as kubeadm prints it (`types.PatchType`).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Strategic => "application/strategic-merge-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::Json => "application/json-patch+json",
        }
    }
}

/// One patch file: its documents, each a patch.
#[derive(Debug, Clone)]
pub struct PatchFile {
    /// The file's base name.
    pub name: String,
    /// Its target.
    pub target: &'static str,
    /// Its patch type.
    pub kind: PatchKind,
    path: PathBuf,
    documents: Vec<Value>,
}

/// The patches of a directory, in file-name order.
#[derive(Debug, Clone)]
pub struct Patches {
    dir: PathBuf,
    files: Vec<PatchFile>,
    ignored: Vec<(String, String)>,
}

impl Patches {
    /// Reads every patch file of `dir` (not its sub-directories). Files with another extension
    /// or an unknown target are ignored (and reported by [`Patches::read_lines`]); a file naming
    /// a target with a bad `+type`, or that does not parse, is an error naming it.
    pub fn read(dir: &Path) -> Result<Self, PatchError> {
        let read_dir_error = |source| PatchError::ReadDir { dir: dir.to_owned(), source };
        if !fs_err::metadata(dir).map_err(read_dir_error)?.is_dir() {
            return Err(read_dir_error(io::Error::other("not a directory")));
        }
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for entry in fs_err::read_dir(dir).map_err(read_dir_error)? {
            let entry = entry.map_err(read_dir_error)?;
            if entry.file_type().map_err(read_dir_error)?.is_dir() {
                continue;
            }
            entries.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
        }
        entries.sort();
        let mut patches = Self { dir: dir.to_owned(), files: Vec::new(), ignored: Vec::new() };
        for (name, path) in entries {
            let (target, kind) = match parse_file_name(&name) {
                Ok(parsed) => parsed,
                Err(FileNameProblem::Ignore(why)) => {
                    patches.ignored.push((name, why.to_owned()));
                    continue;
                }
                Err(FileNameProblem::BadType) => return Err(PatchError::PatchType { file: path }),
            };
            let text = fs_err::read_to_string(&path).map_err(|source| PatchError::ReadFile { file: path.clone(), source })?;
            if text.is_empty() {
                patches.ignored.push((name, String::new()));
                continue;
            }
            let documents = split_documents(&text)
                .into_iter()
                .map(|doc| {
                    serde_saphyr::from_str::<Value>(doc).map_err(|e| PatchError::Parse { file: path.clone(), message: e.to_string() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            patches.files.push(PatchFile { name, target, kind, path, documents });
        }
        Ok(patches)
    }

    /// kubeadm's lines for reading the directory (`GetPatchManagerForPath`).
    pub fn read_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("[patches] Reading patches from path \"{}\"", self.dir.display())];
        for (name, why) in &self.ignored {
            lines.push(if why.is_empty() {
                format!("[patches] Ignoring empty file: \"{name}\"")
            } else {
                format!("[patches] Ignoring file \"{name}\": {why}")
            });
        }
        if !self.files.is_empty() {
            let names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
            lines.push(format!("[patches] Found the following patch files: [{}]", names.join(" ")));
        }
        if !self.ignored.is_empty() {
            let names: Vec<&str> = self.ignored.iter().map(|(n, _)| n.as_str()).collect();
            lines.push(format!("[patches] Ignored the following files: [{}]", names.join(" ")));
        }
        lines
    }

    /// The files found, in order.
    pub fn files(&self) -> &[PatchFile] {
        &self.files
    }

    /// Applies the patches of `target` to `doc`, in file-name order; returns the result and the
    /// files that applied (once per document: kubeadm logs each document).
    pub fn apply(&self, target: &str, mut doc: Value) -> Result<(Value, Vec<&PatchFile>), PatchError> {
        if !KNOWN_TARGETS.contains(&target) {
            return Err(PatchError::UnknownTarget(target.to_owned()));
        }
        let mut applied = Vec::new();
        for file in self.files.iter().filter(|f| f.target == target) {
            for patch in &file.documents {
                doc = apply_one(doc, patch, file).map_err(|message| PatchError::Apply {
                    file: file.path.clone(),
                    kind: file.kind,
                    target: target.to_owned(),
                    message,
                })?;
                applied.push(file);
            }
        }
        Ok((doc, applied))
    }
}

/// Applies the patches of `dir` for `target` to `doc`; returns the patched document and the
/// names of the files applied (a file once per document in it).
pub fn apply(target: &str, doc: Value, dir: &Path) -> Result<(Value, Vec<String>), PatchError> {
    let patches = Patches::read(dir)?;
    let (doc, applied) = patches.apply(target, doc)?;
    Ok((doc, applied.iter().map(|f| f.name.clone()).collect()))
}

/// `[patches] Applied patch of type "…" to target "…"`.
pub fn applied_line(kind: PatchKind, target: &str) -> String {
    format!("[patches] Applied patch of type \"{}\" to target \"{target}\"", kind.content_type())
}

fn apply_one(mut doc: Value, patch: &Value, file: &PatchFile) -> Result<Value, String> {
    match file.kind {
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| e.to_string())?;
            json_patch::patch(&mut doc, &operations).map_err(|e| e.to_string())?;
            Ok(doc)
        }
        PatchKind::Merge => {
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchKind::Strategic => {
            let schema = if is_pod_like(file.target) { strategic::Schema::Pod } else { strategic::Schema::None };
            strategic::merge(doc, patch, schema)
        }
    }
}

/// Targets whose Go type has the Pod's patch merge keys (the static Pods, CoreDNS's
/// Deployment); kubeletconfiguration's lists have none.
fn is_pod_like(target: &str) -> bool {
    target != "kubeletconfiguration"
}

enum FileNameProblem {
    Ignore(&'static str),
    BadType,
}

/// `parseFilename`: `^(targets)([^.+\n]*)?(\+)?(json|merge|strategic)?` on a `.json`/`.yaml` name.
fn parse_file_name(name: &str) -> Result<(&'static str, PatchKind), FileNameProblem> {
    let has_extension = [".json", ".yaml"].iter().any(|ext| name.len() > ext.len() && name.ends_with(ext));
    if !has_extension {
        return Err(FileNameProblem::Ignore("the file extension must be one of [json yaml]"));
    }
    let Some(target) = KNOWN_TARGETS.iter().find(|t| name.starts_with(**t)) else {
        return Err(FileNameProblem::Ignore(
            "unknown target, must be one of [etcd kube-apiserver kube-controller-manager kube-scheduler kubeletconfiguration corednsdeployment]",
        ));
    };
    let rest = &name[target.len()..];
    let suffix_end = rest.find(['.', '+', '\n']).unwrap_or(rest.len());
    let Some(after_plus) = rest[suffix_end..].strip_prefix('+') else { return Ok((target, PatchKind::Strategic)) };
    let kind = if after_plus.starts_with("json") {
        PatchKind::Json
    } else if after_plus.starts_with("merge") {
        PatchKind::Merge
    } else if after_plus.starts_with("strategic") {
        PatchKind::Strategic
    } else {
        return Err(FileNameProblem::BadType);
    };
    Ok((target, kind))
}

/// `utilyaml.NewYAMLReader`: documents split at lines starting with `---`; blank ones dropped.
fn split_documents(text: &str) -> Vec<&str> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") {
            documents.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    documents.push(&text[start..]);
    documents.into_iter().map(str::trim).filter(|d| !d.is_empty()).collect()
}

#[cfg(test)]
mod tests;
