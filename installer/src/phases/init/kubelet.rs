//! `kubelet-start` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/kubelet.go): the kubelet's
//! config.yaml, kubeadm-flags.env and drop-in, then (re)start it.

use super::InitData;
use crate::kubeadm::{initsystem, kubelet};
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("kubelet-start", "Write kubelet settings and (re)start the kubelet")
        .long("Write a file with KubeletConfiguration and an environment file with node specific kubelet settings, and then (re)start kubelet.")
        .example("  # Writes a dynamic environment file with kubelet flags from a InitConfiguration file.\n  airadm init phase kubelet-start --config config.yaml")
        .inherit(&["config", "image-repository", "cri-socket", "node-name", "patches", "dry-run"])
        .run(|data: &mut InitData| ready(run(data)))
}

/// kubeadm's `runKubeletStart`: stop, write, start (the init system only outside a dry run).
fn run(data: &mut InitData) -> anyhow::Result<()> {
    let dry_run = data.options.dry_run;
    if !dry_run {
        data.say(initsystem::kubelet(&data.root, initsystem::Kubelet::Stop))?;
    }
    data.say(kubelet::write_files(&data.cfg, &data.root, &data.host.hostname, kubelet::Workflow::Init)?)?;
    if !dry_run {
        data.say(vec!["[kubelet-start] Starting the kubelet".into()])?;
        data.say(initsystem::kubelet(&data.root, initsystem::Kubelet::Start))?;
    }
    Ok(())
}
