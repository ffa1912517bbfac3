//! The control-plane check both `init` and `join` end their `wait-control-plane` with, from
//! v1.33 (kubeadm: `WaitForControlPlaneComponents`, feature gate `WaitForAllControlPlaneComponents`):
//! every component of this node, at the address and port its static Pod manifest gives.

use std::time::Duration;

use crate::kubeadm::config::defaults::MANIFESTS_DIR;
use crate::kubeadm::files::Root;
use crate::kubeadm::wait;
use crate::phases::client::kube_client_at;

/// Waits for this node's kube-apiserver (through admin.conf's credentials at
/// `https://advertise:port`), kube-controller-manager and kube-scheduler, printing kubeadm's
/// `[control-plane-check]` lines through `say`.
pub(crate) async fn control_plane_components(
    root: &Root,
    advertise: &str,
    port: u16,
    timeout: Duration,
    say: &dyn Fn(Vec<String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    say(vec![format!(
        "[control-plane-check] Waiting for healthy control plane components. This can take up to {}",
        wait::go_duration(timeout)
    )])?;
    let manifests =
        |name: &str| root.read(format!("{MANIFESTS_DIR}/{name}.yaml")).ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned());
    let checks = wait::component_checks(&manifests, advertise)
        .map_err(|e| anyhow::anyhow!("could not parse the address and port of all control plane components: {e}"))?;
    say(checks.iter().map(|c| format!("[control-plane-check] Checking {} at {}", c.name, c.url)).collect())?;
    let server = format!("https://{}", crate::kubeadm::config::host_port(advertise, port));
    let api = kube_client_at(root, "/etc/kubernetes/admin.conf", Some(&server)).await?;
    let mut failures = Vec::new();
    for (name, result) in wait::wait_for_components(&checks, &api, timeout, wait::POLL).await {
        match result {
            Ok(took) => say(vec![format!("[control-plane-check] {name} is healthy after {took:?}")])?,
            Err(e) => {
                say(vec![format!("[control-plane-check] {name} is not healthy after {timeout:?}")])?;
                failures.push(e);
            }
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "failed while waiting for the control plane to start: {}; check the control-plane containers (`crictl --runtime-endpoint … ps -a`, then `crictl logs`)",
        failures.join(", ")
    );
    Ok(())
}
