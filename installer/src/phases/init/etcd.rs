//! `etcd` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/etcd.go): the local etcd's static Pod.

use super::InitData;
use crate::kubeadm::{certs, staticpod};
use crate::phases::host::proxy_env;
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<InitData> {
    let local = Phase::new("local", "Generate the static Pod manifest file for a local, single-node local etcd instance")
        .inherit(&["cert-dir", "config", "image-repository", "patches", "dry-run"])
        .run(|data: &mut InitData| ready(run_local(data)));
    Phase::new("etcd", "Generate static Pod manifest file for local etcd").phases(vec![local])
}

/// kubeadm's `runEtcdPhaseLocal`: nothing with an external etcd.
fn run_local(data: &mut InitData) -> anyhow::Result<()> {
    if data.cfg.local_etcd().is_none() {
        return Ok(());
    }
    let external_ca = certs::using_external_ca(&data.cfg, &data.root);
    data.say(staticpod::write_manifests(&data.cfg, &data.root, "etcd", external_ca, &proxy_env())?)
}
