//! What init and join do with the bundle and the runtime: open the bundle once and check its
//! manifest; `import` and `binaries` (one verifying pass over that one open file when both run,
//! else one each); and preflight's CRI checks.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::import::{self, ImportOptions};
use crate::kubeadm::config::Version;
use crate::kubeadm::files::Root;
use crate::kubeadm::preflight;
use crate::runtime::{self, cri::Cri};
use crate::{bundle_file, trusted_keys};

/// The bundle as the run opened and checked it: the phases that read it again refuse it unless
/// it is still this manifest.
pub(crate) struct OpenBundle {
    /// `--bundle`.
    pub(crate) path: PathBuf,
    /// The one open file.
    pub(crate) file: std::fs::File,
    /// Its signed manifest.
    pub(crate) manifest: bundle::Manifest,
    /// The trusted keys.
    pub(crate) keys: Vec<bundle::PublicKey>,
    /// The detached signature of the whole file, when there is one.
    pub(crate) file_signature: Option<String>,
    /// The architecture accepted (`--arch`, else this node's).
    pub(crate) arch: String,
    /// The node binaries the `import` phase staged in its pass, for the `binaries` phase.
    pub(crate) staged: Option<crate::binaries::Staging>,
}

impl OpenBundle {
    /// Opens `path` once and checks its manifest's signature against the trusted keys, and its
    /// architecture against `arch` (default: this node's).
    pub(crate) fn open(path: &Path, trusted_keys: &[PathBuf], signature: Option<&Path>, arch: Option<&str>) -> anyhow::Result<Self> {
        let keys = trusted_keys::load(trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
        let file = fs_err::File::open(path)?.into_parts().0;
        let manifest = bundle::reader::read_manifest_verified(std::io::BufReader::new(&file), &keys)
            .with_context(|| format!("`{}`", path.display()))?;
        let arch = arch.map_or_else(|| import::node_arch().to_owned(), str::to_owned);
        anyhow::ensure!(
            manifest.arch == arch,
            "`{}` is for linux/{}, this node is linux/{arch}: use the {arch} bundle (or pass --arch {})",
            path.display(),
            manifest.arch,
            manifest.arch
        );
        let file_signature = bundle_file::detached_signature(path, signature)?;
        Ok(Self { path: path.to_owned(), file, manifest, keys, file_signature, arch, staged: None })
    }

    /// The bundle's Kubernetes version.
    pub(crate) fn version(&self) -> anyhow::Result<Version> {
        Version::parse(&self.manifest.kubernetes_version).with_context(|| {
            format!("`{}`: the manifest's version `{}` is not vX.Y.Z", self.path.display(), self.manifest.kubernetes_version)
        })
    }
}

/// Where and how the `binaries` phase installs: under `root` (the node), into `bin_dir`.
pub(crate) struct BinariesPlacement {
    pub(crate) root: Root,
    pub(crate) bin_dir: String,
    pub(crate) force: bool,
    pub(crate) dry_run: bool,
}

impl BinariesPlacement {
    fn target(&self, opened: &OpenBundle) -> crate::binaries::Target {
        crate::binaries::Target {
            expected: Some(opened.manifest.clone()),
            arch: opened.arch.clone(),
            root: self.root.clone(),
            bin_dir: self.bin_dir.clone(),
            force: self.force,
            dry_run: self.dry_run,
        }
    }
}

/// Our `binaries` phase: install the node's binaries the `import` phase staged, or else verify
/// the whole bundle again and install them from it.
pub(crate) fn binaries_phase(opened: &mut OpenBundle, placement: &BinariesPlacement) -> anyhow::Result<Vec<String>> {
    if let Some(staged) = opened.staged.take() {
        return Ok(staged.commit(&opened.manifest, &opened.path)?.1);
    }
    let install = crate::binaries::InstallOptions {
        bundle: opened.path.clone(),
        opened: opened.file.try_clone()?,
        file_signature: opened.file_signature.clone(),
        keys: opened.keys.clone(),
        target: placement.target(opened),
    };
    Ok(tokio::task::block_in_place(|| crate::binaries::install(&install))?.1)
}

/// The import phase: verify the whole bundle and import it into the runtime at `cri_socket`
/// (dry run: verify only). With `binaries` (the `binaries` phase runs next), the same pass
/// stages the node binaries for it.
pub(crate) async fn import_phase(
    opened: &mut OpenBundle,
    cri_socket: &str,
    dry_run: bool,
    binaries: Option<&BinariesPlacement>,
) -> anyhow::Result<Vec<String>> {
    let socket = runtime::socket_path(Some(cri_socket), Path::new("/"))?;
    let binaries = binaries.map(|p| crate::binaries::Staging::new(p.target(opened))).transpose()?;
    let report = import::import(ImportOptions {
        bundle: opened.path.clone(),
        opened: Some(opened.file.try_clone()?),
        expected: Some(opened.manifest.clone()),
        file_signature: opened.file_signature.clone(),
        keys: opened.keys.clone(),
        socket,
        snapshotter: None,
        arch: opened.arch.clone(),
        dry_run,
        runtime: None,
        staging_dir: PathBuf::from("/var/tmp"),
        quiet: true,
        docker_socket: PathBuf::from("/var/run/docker.sock"),
        crio_config_dir: PathBuf::from(crate::runtime::crio::CONFIG_DIR),
        binaries,
    })
    .await?;
    opened.staged = report.binaries;
    let mut lines: Vec<String> = report.images.iter().map(|i| format!("[import] {} {} ({})", i.name, i.digest, i.status)).collect();
    if let Some(advice) = report.sandbox {
        lines.push(format!(
            "[import] WARNING: {}'s sandbox image {}, the bundle's is {}: the first pod would try to pull it. To fix it, {}",
            advice.runtime,
            advice.configured_words(),
            advice.bundle,
            advice.fix
        ));
    }
    Ok(lines)
}

/// kubeadm's CRI checks, offline: the runtime answers, and has every bundle image (instead of
/// pulling them).
pub(crate) async fn cri_findings(cri_socket: &str, images: &[bundle::Image]) -> Vec<preflight::Finding> {
    let error = |name: &str, message: String| preflight::Finding { name: name.into(), severity: preflight::Severity::Error, message };
    let socket = match runtime::socket_path(Some(cri_socket), Path::new("/")) {
        Ok(s) => s,
        Err(e) => return vec![error("CRI", e.to_string())],
    };
    let Ok(channel) = containerd_client::connect(&socket).await else {
        return vec![error("CRI", format!("container runtime is not running: could not connect to {cri_socket}"))];
    };
    let mut cri = Cri::new(channel);
    if let Err(e) = cri.version().await {
        return vec![error("CRI", format!("container runtime at {cri_socket} does not answer CRI calls: {e}"))];
    }
    let not_held = match runtime::cri::held(&mut cri, images).await {
        Ok(answers) => runtime::cri::not_held(&answers),
        Err(e) => return vec![error("ImagePull", e.to_string())],
    };
    if not_held.is_empty() {
        return vec![];
    }
    vec![error(
        "ImagePull",
        format!("the runtime lacks {not_held} and nothing may be pulled: run `airadm images import` (or drop `import` from --skip-phases)"),
    )]
}
