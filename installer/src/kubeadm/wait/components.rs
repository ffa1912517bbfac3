//! kubeadm's `WaitForControlPlaneComponents` (util/apiclient/wait.go, v1.33+ with
//! `WaitForAllControlPlaneComponents`): each component's health endpoint, read from its static Pod
//! manifest (`--advertise-address`/`--bind-address` and `--secure-port`), polled over HTTPS
//! until it answers 200. The API server is asked through the admin client, the others without
//! credentials and without verifying their self-signed serving certificates, as kubeadm does.

use std::time::{Duration, Instant};

use serde_json::Value;

/// One component to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCheck {
    /// `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`.
    pub name: &'static str,
    /// `https://ADDRESS:PORT/ENDPOINT`.
    pub url: String,
}

/// kubeadm's `getControlPlaneComponents`: the checks from the manifests' commands (`manifests`
/// gives each component's manifest text), defaulting the API server's address to `advertise`.
pub fn component_checks(manifests: &dyn Fn(&str) -> Option<String>, advertise: &str) -> Result<Vec<ComponentCheck>, String> {
    let table: [(&'static str, &str, &str, &str, &str); 3] = [
        ("kube-apiserver", "advertise-address", advertise, "6443", "livez"),
        ("kube-controller-manager", "bind-address", "127.0.0.1", "10257", "healthz"),
        ("kube-scheduler", "bind-address", "127.0.0.1", "10259", "livez"),
    ];
    let mut errors = Vec::new();
    let mut checks = Vec::new();
    for (name, address_arg, default_address, default_port, endpoint) in table {
        let (address, port) = match manifests(name).map(|text| args_of(&text, name, &[address_arg, "secure-port"])) {
            Some(Ok(values)) => (values[0].clone(), values[1].clone()),
            Some(Err(e)) => {
                errors.push(e);
                (None, None)
            }
            None => {
                errors.push(format!("got nil Pod for component {name:?}"));
                (None, None)
            }
        };
        let address = address.unwrap_or_else(|| default_address.to_owned());
        let port = port.unwrap_or_else(|| default_port.to_owned());
        let host = if address.contains(':') { format!("[{address}]") } else { address };
        checks.push(ComponentCheck { name, url: format!("https://{host}:{port}/{endpoint}") });
    }
    if errors.is_empty() { Ok(checks) } else { Err(errors.join(", ")) }
}

/// `getControlPlaneComponentAddressAndPort`: the values of `args` in the command of the
/// container whose command starts with `name`.
fn args_of(manifest: &str, name: &str, args: &[&str]) -> Result<Vec<Option<String>>, String> {
    let pod: Value = serde_saphyr::from_str(manifest).map_err(|e| format!("the {name} manifest: {e}"))?;
    let containers = pod["spec"]["containers"].as_array().cloned().unwrap_or_default();
    let command = containers
        .iter()
        .filter_map(|c| c["command"].as_array())
        .find(|command| command.first().and_then(Value::as_str) == Some(name))
        .ok_or_else(|| format!("the Pod has no container command starting with {name:?}"))?;
    let mut values = vec![None; args.len()];
    for line in command.iter().filter_map(Value::as_str).map(str::trim) {
        for (i, arg) in args.iter().enumerate() {
            if !line.starts_with(&format!("--{arg}")) && !line.starts_with(&format!("-{arg}")) {
                continue;
            }
            let value = match line.split_once('=') {
                Some((_, value)) => value,
                None => line.split_once(' ').map(|(_, v)| v).unwrap_or_default(),
            };
            values[i] = Some(value.to_owned()).filter(|v| !v.is_empty());
        }
    }
    Ok(values)
}

/// Polls every check at once until each answers 200 or `timeout` passes (the API server through
/// `api`). Returns each component's result in the order they finished: how long it took, or the
/// last failure.
pub async fn wait_for_components(
    checks: &[ComponentCheck],
    api: &kube::Client,
    timeout: Duration,
    interval: Duration,
) -> Vec<(&'static str, Result<Duration, String>)> {
    let waits = checks.iter().map(|check| async move {
        let start = Instant::now();
        loop {
            let last = match probe(check, api).await {
                Ok(()) => return (check.name, Ok(start.elapsed())),
                Err(e) => format!("{} check failed at {}: {e}", check.name, check.url),
            };
            if start.elapsed() >= timeout {
                return (check.name, Err(last));
            }
            tokio::time::sleep(interval).await;
        }
    });
    let mut pending: futures_util::stream::FuturesUnordered<_> = waits.collect();
    let mut done = Vec::new();
    while let Some(result) = futures_util::StreamExt::next(&mut pending).await {
        done.push(result);
    }
    done
}

async fn probe(check: &ComponentCheck, api: &kube::Client) -> Result<(), String> {
    let path = check.url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap_or_default();
    let client = if check.name == "kube-apiserver" {
        api.clone()
    } else {
        let base = check.url.trim_end_matches(&path);
        let mut config = kube::Config::new(base.parse().map_err(|e| format!("{e}"))?);
        config.accept_invalid_certs = true;
        config.connect_timeout = Some(Duration::from_secs(2));
        config.read_timeout = Some(Duration::from_secs(5));
        kube::Client::try_from(config).map_err(|e| e.to_string())?
    };
    let request = http::Request::get(path).body(Vec::new()).map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(Duration::from_secs(10), client.request_text(request)).await;
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 10s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(command: &str) -> String {
        format!("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: c\n    command: [{command}]\n")
    }

    #[test]
    fn addresses_and_ports_come_from_the_manifests_else_kubeadm_defaults() {
        let manifests = |name: &str| match name {
            "kube-apiserver" => Some(manifest("kube-apiserver, --advertise-address=10.0.0.5, --secure-port=7443")),
            "kube-controller-manager" => Some(manifest("kube-controller-manager, --bind-address=127.0.0.1")),
            "kube-scheduler" => Some(manifest("kube-scheduler, --bind-address=::1, --secure-port=11259")),
            _ => None,
        };
        let checks = component_checks(&manifests, "10.9.9.9").unwrap();
        let urls: Vec<&str> = checks.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(urls, ["https://10.0.0.5:7443/livez", "https://127.0.0.1:10257/healthz", "https://[::1]:11259/livez"]);
        let defaults = |name: &str| Some(manifest(name));
        let checks = component_checks(&defaults, "10.9.9.9").unwrap();
        assert_eq!(checks[0].url, "https://10.9.9.9:6443/livez");
    }

    #[test]
    fn a_missing_manifest_or_a_foreign_command_is_named() {
        let none = |_: &str| None;
        assert!(component_checks(&none, "1.2.3.4").unwrap_err().contains("got nil Pod for component \"kube-apiserver\""));
        let other = |_: &str| Some(manifest("sleep, '1'"));
        assert!(component_checks(&other, "1.2.3.4").unwrap_err().contains("no container command starting with \"kube-scheduler\""));
    }
}
