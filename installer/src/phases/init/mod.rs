//! `airadm init`: kubeadm's init workflow, offline (kubeadm: cmd/kubeadm/app/cmd/init.go), on
//! the workflow runner. The bundle's signed manifest gives the Kubernetes version and the image
//! of every component; `import` verifies the whole bundle and puts its images into the runtime,
//! `binaries` installs the node's binaries; then kubeadm's phases run in kubeadm's order, one
//! file each, each also runnable alone (`airadm init phase NAME [SUB]`). From
//! `wait-control-plane` on, the phases talk to the API server through
//! `/etc/kubernetes/admin.conf` (under `--dry-run` they only say what they would do).

use std::path::PathBuf;

use crate::kubeadm::config::InitFlags;
use crate::workflow::{Phase, Runner};

mod addons;
mod binaries;
mod bootstraptoken;
mod certs;
mod cni;
mod controlplane;
mod data;
mod etcd;
mod import;
mod kubeconfig;
mod kubelet;
mod kubeletfinalize;
mod markcontrolplane;
mod preflight;
mod showjoincommand;
mod uploadcerts;
mod uploadconfig;
mod waitcontrolplane;

pub(crate) use data::InitData;

/// The flags every init phase takes: airadm's own (where the bundle is, what to trust, where
/// the node's root is).
pub const OWN_FLAGS: &[&str] = &["bundle", "trusted-key", "signature", "rootfs", "arch"];

/// init's workflow: our `import` and `binaries`, then kubeadm's phases in kubeadm's order
/// (kubeadm: `newCmdInit`'s `initRunner.AppendPhase` calls).
pub(crate) fn runner() -> Runner<InitData> {
    Runner::new(vec![
        import::phase(),
        binaries::phase(),
        preflight::phase(),
        certs::phase(),
        kubeconfig::phase(),
        etcd::phase(),
        controlplane::phase(),
        kubelet::phase(),
        waitcontrolplane::phase(),
        uploadconfig::phase(),
        uploadcerts::phase(),
        markcontrolplane::phase(),
        bootstraptoken::phase(),
        kubeletfinalize::phase(),
        addons::phase(),
        cni::phase(),
        showjoincommand::phase(),
    ])
}

/// A phase that needs the API server: under `--dry-run` it only says so.
fn api(name: &'static str, phase: Phase<InitData>) -> Phase<InitData> {
    phase.run_if(move |data: &InitData| {
        if !data.options.dry_run {
            return Ok(true);
        }
        data.say(vec![format!("[dryrun] Would run phase {name} against the API server")])?;
        Ok(false)
    })
}

/// What `airadm init` (or one phase) was asked.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// kubeadm's flags.
    pub flags: InitFlags,
    /// `--kubernetes-version`: must be the bundle's.
    pub kubernetes_version: Option<String>,
    /// `--bundle`.
    pub bundle: PathBuf,
    /// `--trusted-key`.
    pub trusted_keys: Vec<PathBuf>,
    /// `--signature`: the detached signature of the whole bundle (default: BUNDLE.minisig).
    pub signature: Option<PathBuf>,
    /// `--rootfs`: every file goes below it.
    pub rootfs: Option<PathBuf>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--upload-certs`.
    pub upload_certs: bool,
    /// `--arch`: accept a bundle for another architecture.
    pub arch: Option<String>,
    /// `--bin-dir`: where the `binaries` phase installs the node's binaries.
    pub bin_dir: String,
    /// `--force-binaries`.
    pub force_binaries: bool,
    /// Run only this phase and its sub-phases (`certs`, `certs/apiserver`); `None`: the whole workflow.
    pub phase: Option<String>,
}

/// Runs `airadm init` or one of its phases (kubeadm: `initRunner.InitData`, then `Run`).
pub async fn run(options: InitOptions) -> anyhow::Result<()> {
    let runner = runner();
    let mut data = InitData::new(options).await?;
    let filter: Vec<String> = data.options.phase.iter().cloned().collect();
    if filter.is_empty() {
        data.say(vec![format!("[init] Using Kubernetes version: {}", data.cfg.version)])?;
    }
    let plan = runner.plan(&filter, &data.cfg.skip_phases)?;
    let entries = runner.entries();
    data.planned = plan.iter().map(|&i| entries[i].name.clone()).collect();
    runner.run(&plan, &mut data).await?;
    if let Some(dir) = data.dry_dir.take() {
        let kept = dir.keep();
        data.say(vec![format!(
            "[dryrun] Wrote certificates, kubeconfig files and control plane manifests to the \"{}\" directory",
            kept.display()
        )])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
