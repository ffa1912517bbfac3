//! `control-plane` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/controlplane.go): the
//! manifest folder, then one static Pod per component.

use super::InitData;
use crate::kubeadm::{certs, config, staticpod};
use crate::phases::host::proxy_env;
use crate::workflow::{Phase, ready};

/// The sub-phases: name, component, help line.
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("apiserver", "kube-apiserver", "Generates the kube-apiserver static Pod manifest"),
    ("controller-manager", "kube-controller-manager", "Generates the kube-controller-manager static Pod manifest"),
    ("scheduler", "kube-scheduler", "Generates the kube-scheduler static Pod manifest"),
];

/// kubeadm's `getControlPlanePhaseFlags`.
fn flags(component: &str) -> Vec<&'static str> {
    let mut flags = vec!["config", "cert-dir", "kubernetes-version", "image-repository", "patches", "dry-run"];
    if component == "all" || component == "kube-apiserver" {
        flags.extend([
            "apiserver-advertise-address",
            "control-plane-endpoint",
            "apiserver-bind-port",
            "apiserver-extra-args",
            "feature-gates",
            "service-cidr",
        ]);
    }
    if component == "all" || component == "kube-controller-manager" {
        flags.extend(["controller-manager-extra-args", "pod-network-cidr"]);
    }
    if component == "all" || component == "kube-scheduler" {
        flags.push("scheduler-extra-args");
    }
    flags
}

pub(super) fn phase() -> Phase<InitData> {
    let mut phases = vec![Phase::all("Generate all static Pod manifest files", &flags("all"))];
    for (name, component, short) in COMPONENTS {
        let component: &'static str = component;
        phases.push(
            Phase::new(name, *short).inherit(&flags(component)).run(move |data: &mut InitData| ready(run_component(data, component))),
        );
    }
    Phase::new("control-plane", "Generate all static Pod manifest files necessary to establish the control plane").phases(phases).run(
        |data: &mut InitData| {
            ready(data.say(vec![format!("[control-plane] Using manifest folder \"{}\"", config::defaults::MANIFESTS_DIR)]))
        },
    )
}

/// kubeadm's `runControlPlaneSubphase`.
fn run_component(data: &mut InitData, component: &str) -> anyhow::Result<()> {
    let external_ca = certs::using_external_ca(&data.cfg, &data.root);
    data.say(staticpod::write_manifests(&data.cfg, &data.root, component, external_ca, &proxy_env())?)
}
