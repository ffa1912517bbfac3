//! Token discovery over the network (kubeadm: cmd/kubeadm/app/discovery/token/token.go
//! `retrieveValidatedConfigInfo`): `cluster-info` fetched anonymously without checking TLS,
//! its signature checked with the token, its CA pinned, then fetched again over TLS verified
//! with that CA and compared.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;

use super::{CLUSTER_INFO, Cluster, DiscoveryError, JWS_PREFIX, KUBECONFIG_KEY, Pins, Token, cluster_of, validate_cluster_info};

/// kubeadm's `DiscoveryRetryInterval`.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// What a validated discovery gives: the signed kubeconfig and its cluster.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The kubeconfig of `cluster-info`, as signed.
    pub kubeconfig: String,
    /// Its cluster.
    pub cluster: Cluster,
}

/// Discovers the cluster at `endpoint` (`host:port`) with `token`, pinning its CA with `pins`
/// (none: `--discovery-token-unsafe-skip-ca-verification`), within `timeout`.
pub async fn retrieve(endpoint: &str, token: &Token, pins: &Pins, timeout: Duration, interval: Duration) -> anyhow::Result<Discovered> {
    tracing::debug!(endpoint, "[discovery] Created cluster-info discovery client");
    let insecure = client(endpoint, None)?;
    let data = cluster_info(&insecure, token, timeout, interval).await?;
    let kubeconfig = validate_cluster_info(&data, token)?.to_owned();
    let cluster = cluster_of(&kubeconfig)?;
    if pins.is_empty() {
        tracing::debug!(endpoint, "[discovery] Cluster info signature and contents are valid and no TLS pinning was specified");
        return Ok(Discovered { kubeconfig, cluster });
    }
    pins.check_any(&cluster.ca_pem)?;
    tracing::debug!(endpoint, "[discovery] Requesting info again to validate TLS against the pinned public key");
    let secure = client(endpoint, Some(&cluster.ca_pem))?;
    let again = cluster_info(&secure, token, timeout, interval).await?;
    if again.get(KUBECONFIG_KEY) != Some(&kubeconfig) {
        return Err(DiscoveryError::Changed.into());
    }
    Ok(Discovered { kubeconfig, cluster })
}

/// An anonymous client of `https://endpoint`: TLS unchecked, or checked against `ca_pem`.
fn client(endpoint: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<kube::Client> {
    cluster_client(&format!("https://{endpoint}"), ca_pem, None)
}

/// A client of the API server at `server` (`https://…`) checking TLS against `ca_pem` (none:
/// unchecked), authenticating with bearer `token` when given.
pub fn cluster_client(server: &str, ca_pem: Option<&[u8]>, token: Option<&str>) -> anyhow::Result<kube::Client> {
    let url = server.parse().map_err(|e| anyhow::anyhow!("the API server `{server}` is not https://host:port ({e})"))?;
    let mut config = kube::Config::new(url);
    match ca_pem {
        None => config.accept_invalid_certs = true,
        Some(pem) => {
            let ders: Result<Vec<Vec<u8>>, _> = x509_parser::pem::Pem::iter_from_buffer(pem).map(|p| p.map(|p| p.contents)).collect();
            config.root_cert = Some(ders.map_err(|e| DiscoveryError::BadKubeconfig(format!("its CA is not PEM: {e}")))?);
        }
    }
    config.auth_info.token = token.map(|t| t.to_owned().into());
    Ok(kube::Client::try_from(config)?)
}

/// kubeadm's `getClusterInfo`: polls until `cluster-info` carries a signature for the token (the
/// controller-manager adds it shortly after the token is created), or `timeout`; then the last
/// error.
async fn cluster_info(
    client: &kube::Client,
    token: &Token,
    timeout: Duration,
    interval: Duration,
) -> anyhow::Result<BTreeMap<String, String>> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), "kube-public");
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api.get(CLUSTER_INFO).await {
            Ok(cm) => {
                let data = cm.data.unwrap_or_default();
                if data.contains_key(&format!("{JWS_PREFIX}{}", token.id)) {
                    return Ok(data);
                }
                anyhow::anyhow!("could not find a JWS signature in the cluster-info ConfigMap for token ID \"{}\"", token.id)
            }
            Err(e) => anyhow::Error::new(e).context("failed to request the cluster-info ConfigMap"),
        };
        tracing::debug!("[discovery] Retrying due to error: {last:#}");
        if Instant::now() + interval > deadline {
            return Err(last.context(format!("discovery gave up after {timeout:?}")));
        }
        tokio::time::sleep(interval).await;
    }
}
