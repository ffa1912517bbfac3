//! `airadm reset`: kubeadm's reset workflow (kubeadm: cmd/kubeadm/app/cmd/reset.go) on the
//! workflow runner: `preflight` (confirmation and the root check), `remove-etcd-member` (this
//! node's member leaves a stacked etcd cluster, its data directory is emptied) and
//! `cleanup-node` (the kubelet stopped, its mounts undone, every pod of the runtime removed,
//! kubeadm's directories emptied and its kubeconfigs deleted). No bundle is needed; images stay
//! in the runtime, as with kubeadm.

use std::path::PathBuf;

use crate::kubeadm::config::ResetFlags;
use crate::workflow::Runner;

mod cleanupnode;
mod data;
mod preflight;
mod removeetcdmember;

pub(crate) use data::ResetData;

/// What `airadm reset` (or one phase) was asked.
#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// `--config`: a ResetConfiguration (v1beta4).
    pub config: Option<PathBuf>,
    /// kubeadm's flags.
    pub flags: ResetFlags,
    /// `--kubeconfig`: the cluster's admin credentials (node path).
    pub kubeconfig: String,
    /// `--rootfs`.
    pub rootfs: Option<PathBuf>,
    /// Run only this phase and its sub-phases; `None`: the whole workflow.
    pub phase: Option<String>,
}

/// The flags every reset phase takes: airadm's own.
pub const OWN_FLAGS: &[&str] = &["rootfs"];

/// reset's workflow (kubeadm: `newCmdReset`'s `resetRunner.AppendPhase` calls).
pub(crate) fn runner() -> Runner<ResetData> {
    Runner::new(vec![preflight::phase(), removeetcdmember::phase(), cleanupnode::phase()])
}

/// Runs `airadm reset` or one of its phases.
pub async fn run(options: ResetOptions) -> anyhow::Result<()> {
    let runner = runner();
    let mut data = ResetData::new(options).await?;
    let filter: Vec<String> = data.options.phase.iter().cloned().collect();
    let plan = runner.plan(&filter, &data.cfg.skip_phases)?;
    runner.run(&plan, &mut data).await?;
    if filter.is_empty() {
        data.say(vec![crate::kubeadm::reset::MANUAL_CLEANUP.trim_end_matches('\n').to_owned(), String::new()])?;
    }
    Ok(())
}
