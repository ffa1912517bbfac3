//! The phases that read the bundle and the runtime: `import`, our `binaries` (each a full
//! verifying pass over the one file opened for the run), and preflight's CRI checks.

use std::path::{Path, PathBuf};

use super::InitOptions;
use crate::import::{self, ImportOptions};
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::files::Root;
use crate::kubeadm::preflight;
use crate::runtime::{self, cri::Cri};

/// The bundle as the run opened and checked it: the phases that read it again refuse it unless
/// it is still this manifest.
pub(crate) struct OpenBundle {
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
}

/// Our `binaries` phase: verify the whole bundle again and install the node's binaries from it.
pub(super) fn binaries_phase(options: &InitOptions, root: &Root, opened: &OpenBundle) -> anyhow::Result<Vec<String>> {
    let install = crate::binaries::InstallOptions {
        bundle: options.bundle.clone(),
        opened: opened.file.try_clone()?,
        expected: Some(opened.manifest.clone()),
        file_signature: opened.file_signature.clone(),
        keys: opened.keys.clone(),
        arch: opened.arch.clone(),
        root: root.clone(),
        bin_dir: options.bin_dir.clone(),
        force: options.force_binaries,
        dry_run: options.dry_run,
    };
    Ok(tokio::task::block_in_place(|| crate::binaries::install(&install))?.1)
}

/// The import phase: verify the whole bundle and import it (dry run: verify only).
pub(super) async fn import_phase(options: &InitOptions, cfg: &InitConfig, opened: &OpenBundle) -> anyhow::Result<Vec<String>> {
    let socket = runtime::socket_path(Some(&cfg.cri_socket), Path::new("/"))?;
    let report = import::import(ImportOptions {
        bundle: options.bundle.clone(),
        opened: Some(opened.file.try_clone()?),
        expected: Some(opened.manifest.clone()),
        file_signature: opened.file_signature.clone(),
        keys: opened.keys.clone(),
        socket,
        snapshotter: None,
        arch: opened.arch.clone(),
        dry_run: options.dry_run,
        runtime: None,
        staging_dir: PathBuf::from("/var/tmp"),
        quiet: true,
        docker_socket: PathBuf::from("/var/run/docker.sock"),
        crio_config_dir: PathBuf::from(crate::runtime::crio::CONFIG_DIR),
    })
    .await?;
    let mut lines: Vec<String> = report.images.iter().map(|i| format!("[import] {} {} ({})", i.name, i.digest, i.status)).collect();
    if let Some(advice) = report.sandbox {
        lines.push(format!(
            "[import] WARNING: {}'s sandbox image is {}, the bundle's is {}: the first pod would try to pull it. To fix it, {}",
            advice.runtime,
            advice.configured.as_deref().unwrap_or("not set"),
            advice.bundle,
            advice.fix
        ));
    }
    Ok(lines)
}

/// kubeadm's CRI checks, offline: the runtime answers, and has every bundle image (instead of
/// pulling them).
pub(super) async fn cri_findings(cfg: &InitConfig, images: &[bundle::Image]) -> Vec<preflight::Finding> {
    let error = |name: &str, message: String| preflight::Finding { name: name.into(), severity: preflight::Severity::Error, message };
    let socket = match runtime::socket_path(Some(&cfg.cri_socket), Path::new("/")) {
        Ok(s) => s,
        Err(e) => return vec![error("CRI", e.to_string())],
    };
    let Ok(channel) = containerd_client::connect(&socket).await else {
        return vec![error("CRI", format!("container runtime is not running: could not connect to {}", cfg.cri_socket))];
    };
    let mut cri = Cri::new(channel);
    if let Err(e) = cri.version().await {
        return vec![error("CRI", format!("container runtime at {} does not answer CRI calls: {e}", cfg.cri_socket))];
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
