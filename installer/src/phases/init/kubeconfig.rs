//! `kubeconfig` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/kubeconfig.go): the folder, then
//! one sub-phase per kubeconfig file.

use super::InitData;
use crate::kubeadm::kubeconfig;
use crate::workflow::{Phase, ready};

/// The sub-phases in kubeadm's order, with its help lines.
const FILES: &[(&str, &str)] = &[
    ("admin", "Generate a kubeconfig file for the admin to use and for kubeadm itself"),
    ("super-admin", "Generate a kubeconfig file for the super-admin"),
    ("kubelet", "Generate a kubeconfig file for the kubelet to use *only* for cluster bootstrapping purposes"),
    ("controller-manager", "Generate a kubeconfig file for the controller manager to use"),
    ("scheduler", "Generate a kubeconfig file for the scheduler to use"),
];

/// kubeadm's `getKubeConfigPhaseFlags`.
fn flags(name: &str) -> Vec<&'static str> {
    let mut flags = vec![
        "apiserver-advertise-address",
        "control-plane-endpoint",
        "apiserver-bind-port",
        "cert-dir",
        "config",
        "kubeconfig-dir",
        "kubernetes-version",
        "dry-run",
    ];
    if name == "all" || name == "kubelet" {
        flags.push("node-name");
    }
    flags
}

pub(super) fn phase() -> Phase<InitData> {
    let mut phases = vec![Phase::all("Generate all kubeconfig files", &flags("all"))];
    for (name, short) in FILES {
        let name: &'static str = name;
        phases.push(Phase::new(name, *short).inherit(&flags(name)).run(move |data: &mut InitData| ready(run_file(data, name))));
    }
    Phase::new("kubeconfig", "Generate all kubeconfig files necessary to establish the control plane and the admin kubeconfig file")
        .phases(phases)
        .run(|data: &mut InitData| ready(run_kubeconfig(data)))
}

/// kubeadm's `runKubeConfig`, plus the client keys of the planned sub-phases made at once.
fn run_kubeconfig(data: &mut InitData) -> anyhow::Result<()> {
    let planned = data.planned_under("kubeconfig");
    let (lines, keys) = kubeconfig::start(&data.cfg, &data.root, &planned)?;
    data.kubeconfig_keys = keys;
    data.say(lines)
}

/// kubeadm's `runKubeConfigFile`.
fn run_file(data: &mut InitData, name: &str) -> anyhow::Result<()> {
    let lines = kubeconfig::run_one(&data.cfg, &data.root, name, data.now, &mut data.kubeconfig_keys)?;
    data.say(lines)
}
