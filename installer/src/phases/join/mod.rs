//! `airadm join`: kubeadm's join workflow, offline for everything but the cluster it joins
//! (kubeadm: cmd/kubeadm/app/cmd/join.go), on the workflow runner: our `import` and `binaries`,
//! then kubeadm's `preflight` (which discovers the cluster: `cluster-info` checked with the
//! token and the CA pins) and `kubelet-start` (the TLS bootstrap). Joining as another
//! control-plane node (`--control-plane`) is not here yet.

use std::path::PathBuf;

use crate::kubeadm::config::JoinFlags;
use crate::workflow::Runner;

mod binaries;
mod data;
mod import;
mod kubelet;
mod preflight;

pub(crate) use data::JoinData;

/// What `airadm join` (or one phase) was asked.
#[derive(Debug, Clone, Default)]
pub struct JoinOptions {
    /// `--config`: a JoinConfiguration (v1beta4 or v1beta3).
    pub config: Option<PathBuf>,
    /// kubeadm's flags.
    pub flags: JoinFlags,
    /// `--bundle`.
    pub bundle: PathBuf,
    /// `--trusted-key`.
    pub trusted_keys: Vec<PathBuf>,
    /// `--signature`.
    pub signature: Option<PathBuf>,
    /// `--rootfs`.
    pub rootfs: Option<PathBuf>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--arch`.
    pub arch: Option<String>,
    /// `--bin-dir`.
    pub bin_dir: String,
    /// `--force-binaries`.
    pub force_binaries: bool,
    /// Run only this phase and its sub-phases; `None`: the whole workflow.
    pub phase: Option<String>,
}

/// The flags every join phase takes: airadm's own.
pub const OWN_FLAGS: &[&str] = &["bundle", "trusted-key", "signature", "rootfs", "arch"];

/// join's workflow (kubeadm: `newCmdJoin`'s `joinRunner.AppendPhase` calls, as far as here).
pub(crate) fn runner() -> Runner<JoinData> {
    Runner::new(vec![import::phase(), binaries::phase(), preflight::phase(), kubelet::phase()])
}

/// kubeadm's `joinWorkerNodeDoneMsg`.
const WORKER_DONE: &str = "\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n";

/// Runs `airadm join` or one of its phases.
pub async fn run(options: JoinOptions) -> anyhow::Result<()> {
    let runner = runner();
    let mut data = JoinData::new(options).await?;
    anyhow::ensure!(
        data.cfg.control_plane.is_none(),
        "joining as another control-plane node (--control-plane, controlPlane in the JoinConfiguration) is not supported by airadm yet: join this node as a worker, or use kubeadm join for it"
    );
    let filter: Vec<String> = data.options.phase.iter().cloned().collect();
    let plan = runner.plan(&filter, &data.cfg.skip_phases)?;
    runner.run(&plan, &mut data).await?;
    if filter.is_empty() {
        data.say(vec![WORKER_DONE.to_owned()])?;
    }
    if let Some(dir) = data.dry_dir.take() {
        let kept = dir.keep();
        data.say(vec![format!("[dryrun] Wrote the kubelet's files to the \"{}\" directory", kept.display())])?;
    }
    Ok(())
}
