//! `airadm join`: kubeadm's join workflow, offline for everything but the cluster it joins
//! (kubeadm: cmd/kubeadm/app/cmd/join.go), on the workflow runner: our `import` and `binaries`,
//! then kubeadm's `preflight` (which discovers the cluster: `cluster-info` checked with the
//! token and the CA pins), `control-plane-prepare`, `check-etcd`, `kubelet-start` (the TLS
//! bootstrap), `etcd-join`, `kubelet-wait-bootstrap`, `control-plane-join` and
//! `wait-control-plane`. The control-plane phases do nothing for a worker.

use std::path::PathBuf;

use crate::kubeadm::config::JoinFlags;
use crate::workflow::Runner;

mod binaries;
mod checketcd;
mod cni;
mod controlplanejoin;
mod controlplaneprepare;
mod data;
mod import;
mod kubelet;
mod preflight;
mod waitcontrolplane;

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

/// join's workflow (kubeadm: `newCmdJoin`'s `joinRunner.AppendPhase` calls), after our own.
pub(crate) fn runner() -> Runner<JoinData> {
    Runner::new(vec![
        import::phase(),
        binaries::phase(),
        preflight::phase(),
        controlplaneprepare::phase(),
        checketcd::phase(),
        kubelet::phase(),
        controlplanejoin::etcd_join_phase(),
        kubelet::wait_phase(),
        controlplanejoin::phase(),
        waitcontrolplane::phase(),
        cni::phase(),
    ])
}

/// kubeadm's `joinWorkerNodeDoneMsg`.
const WORKER_DONE: &str = "\nThis node has joined the cluster:\n* Certificate signing request was sent to apiserver and a response was received.\n* The Kubelet was informed of the new secure connection details.\n\nRun 'kubectl get nodes' on the control-plane to see this node join the cluster.\n";

/// kubeadm's `joinControlPlaneDoneTemp`.
fn control_plane_done(stacked_etcd: bool) -> String {
    let etcd = if stacked_etcd { "* A new etcd member was added to the local/stacked etcd cluster." } else { "" };
    format!(
        "\nThis node has joined the cluster and a new control plane instance was created:\n\n\
         * Certificate signing request was sent to apiserver and approval was received.\n\
         * The Kubelet was informed of the new secure connection details.\n\
         * Control plane label and taint were applied to the new node.\n\
         * The Kubernetes control plane instances scaled up.\n{etcd}\n\n\
         To start administering your cluster from this node, you need to run the following as a regular user:\n\n\
         \tmkdir -p $HOME/.kube\n\
         \tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n\
         \tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n\
         Run 'kubectl get nodes' to see this node join the cluster.\n"
    )
}

/// Runs `airadm join` or one of its phases.
pub async fn run(options: JoinOptions) -> anyhow::Result<()> {
    let runner = runner();
    let mut data = JoinData::new(options).await?;
    let filter: Vec<String> = data.options.phase.iter().cloned().collect();
    let plan = runner.plan(&filter, &data.cfg.skip_phases)?;
    let entries = runner.entries();
    data.planned = plan.iter().map(|&i| entries[i].name.clone()).collect();
    runner.run(&plan, &mut data).await?;
    if filter.is_empty() {
        let done = match data.control_plane() {
            true => control_plane_done(data.init_cfg().await?.local_etcd().is_some()),
            false => WORKER_DONE.to_owned(),
        };
        data.say(vec![done])?;
    }
    if let Some(dir) = data.dry_dir.take() {
        let kept = dir.keep();
        data.say(vec![format!("[dryrun] Wrote the kubelet's files to the \"{}\" directory", kept.display())])?;
    }
    Ok(())
}
