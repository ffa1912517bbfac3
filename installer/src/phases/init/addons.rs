//! `addon` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/addons.go): CoreDNS and kube-proxy.

use super::InitData;
use crate::kubeadm::addons;
use crate::phases::client::retrying;
use crate::phases::host::proxy_env;
use crate::workflow::Phase;

/// kubeadm's `getAddonPhaseFlags`.
fn flags(name: &str) -> Vec<&'static str> {
    let mut flags = vec!["config", "kubeconfig", "kubernetes-version", "image-repository", "dry-run"];
    if name == "all" || name == "kube-proxy" {
        flags.extend(["apiserver-advertise-address", "control-plane-endpoint", "apiserver-bind-port", "pod-network-cidr"]);
    }
    if name == "all" || name == "coredns" {
        flags.extend(["feature-gates", "service-dns-domain", "service-cidr"]);
    }
    flags
}

pub(super) fn phase() -> Phase<InitData> {
    Phase::new("addon", "Install required addons for passing conformance tests").phases(vec![
        Phase::all("Install all the addons", &flags("all")),
        super::api("addon/coredns", Phase::new("coredns", "Install the CoreDNS addon to a Kubernetes cluster").inherit(&flags("coredns")))
            .run(|data: &mut InitData| Box::pin(run_coredns(data))),
        super::api(
            "addon/kube-proxy",
            Phase::new("kube-proxy", "Install the kube-proxy addon to a Kubernetes cluster").inherit(&flags("kube-proxy")),
        )
        .run(|data: &mut InitData| Box::pin(run_kube_proxy(data))),
    ])
}

async fn run_coredns(data: &mut InitData) -> anyhow::Result<()> {
    let client = data.client().await?;
    let cfg = &data.cfg;
    data.say(retrying(cfg, || addons::apply_coredns(&client, cfg)).await?)
}

async fn run_kube_proxy(data: &mut InitData) -> anyhow::Result<()> {
    let client = data.client().await?;
    let (cfg, env) = (&data.cfg, &proxy_env());
    data.say(retrying(cfg, || addons::apply_kube_proxy(&client, cfg, env)).await?)
}
