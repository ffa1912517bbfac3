//! `certs` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/certs.go): the certificate folder,
//! then one sub-phase per certificate of kubeadm's list and `sa`.

use super::InitData;
use crate::kubeadm::certs;
use crate::workflow::{Phase, ready};

/// kubeadm's `getCertPhaseFlags`.
fn flags(name: &str) -> Vec<&'static str> {
    let mut flags = vec!["cert-dir", "config", "kubernetes-version", "dry-run"];
    if name == "all" || name == "apiserver" {
        flags.extend([
            "apiserver-advertise-address",
            "control-plane-endpoint",
            "apiserver-cert-extra-sans",
            "service-dns-domain",
            "service-cidr",
        ]);
    }
    flags
}

pub(super) fn phase() -> Phase<InitData> {
    let mut phases = vec![Phase::all("Generate all certificates", &flags("all"))];
    for (name, short) in certs::phase_names() {
        let name: &'static str = name;
        phases.push(Phase::new(name, *short).inherit(&flags(name)).run(move |data: &mut InitData| ready(run_cert(data, name))));
    }
    Phase::new("certs", "Certificate generation").phases(phases).run(|data: &mut InitData| ready(run_certs(data)))
}

/// kubeadm's `runCerts`, plus the keys of the planned sub-phases made at once.
fn run_certs(data: &mut InitData) -> anyhow::Result<()> {
    let planned = data.planned_under("certs");
    let (lines, keys) = certs::start(&data.cfg, &data.root, &planned)?;
    data.cert_keys = keys;
    data.say(lines)
}

/// One certificate (kubeadm's `runCAPhase` / `runCertPhase`), or the service-account key.
fn run_cert(data: &mut InitData, name: &str) -> anyhow::Result<()> {
    let lines = certs::run_one(&data.cfg, &data.root, name, data.now, &mut data.cert_keys)?;
    data.say(lines)
}
