//! The API server client of `init`'s phases: admin.conf's client made usable on first use
//! (kubeadm's `initData.Client()`), kubeadm's retry of API calls, and reading node files.

use anyhow::Context as _;

use crate::kubeadm::api;
use crate::kubeadm::certs::pki;
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::files::Root;

/// kubeadm's API calls (`apiclient.CreateOrUpdate` and friends): any error is retried every
/// 500 ms until `timeouts.kubernetesAPICall`, then the last one is returned. A phase here is
/// retried whole; each is idempotent, so this converges as kubeadm's per-call retries do (e.g.
/// while a ClusterRoleBinding just created reaches the API server's authorizer, or the kubelet
/// has yet to register the Node).
pub(crate) async fn retrying<T, E, F, Fut>(cfg: &InitConfig, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let deadline = std::time::Instant::now() + cfg.kubernetes_api_call_timeout;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if std::time::Instant::now() >= deadline => return Err(e.into()),
            Err(e) => {
                tracing::debug!("retrying: {:#}", e.into());
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    }
}

/// The client with the admin credentials init wrote (`/etc/kubernetes/admin.conf`), built on
/// first use and shared by every API phase.
pub(crate) struct AdminClient(pub(crate) Option<kube::Client>);

impl AdminClient {
    /// kubeadm's `initData.Client()`: the first phase that needs the API makes admin.conf work
    /// (`EnsureAdminClusterRoleBinding`: the `kubeadm:cluster-admins` binding, created with
    /// super-admin.conf when admin.conf may not yet), whichever phase that is.
    pub(crate) async fn get(&mut self, root: &Root) -> anyhow::Result<kube::Client> {
        if let Some(client) = &self.0 {
            return Ok(client.clone());
        }
        let client = kube_client(root, "/etc/kubernetes/admin.conf").await?;
        // kubeadm uses super-admin.conf when it exists (`os.Stat` succeeds); a broken one is an error.
        let super_admin = match root.exists("/etc/kubernetes/super-admin.conf") {
            true => Some(kube_client(root, "/etc/kubernetes/super-admin.conf").await?),
            false => None,
        };
        api::ensure_admin_cluster_role_binding(&client, super_admin.as_ref())
            .await
            .context("could not bootstrap the admin user in file admin.conf")?;
        self.0 = Some(client.clone());
        Ok(client)
    }
}

/// A client with the credentials of the kubeconfig at node path `kubeconfig`.
pub(crate) async fn kube_client(root: &Root, kubeconfig: &str) -> anyhow::Result<kube::Client> {
    kube_client_at(root, kubeconfig, None).await
}

/// [`kube_client`], talking to `server` (`https://host:port`) instead when given (kubeadm's
/// `WaitControlPlaneClient`: admin.conf's credentials against this node's own API server).
pub(crate) async fn kube_client_at(root: &Root, kubeconfig: &str, server: Option<&str>) -> anyhow::Result<kube::Client> {
    let path = root.path(kubeconfig)?;
    let text = String::from_utf8(read_node_file(root, kubeconfig)?).with_context(|| format!("`{}` is not UTF-8", path.display()))?;
    let mut kubeconfig = kube::config::Kubeconfig::from_yaml(&text).with_context(|| format!("`{}`", path.display()))?;
    // Files a kubeconfig names are node paths too (the kubelet's rotated client certificate, a
    // symlink to an absolute path): read through the root and embedded.
    for auth in kubeconfig.auth_infos.iter_mut().filter_map(|a| a.auth_info.as_mut()) {
        if let Some(file) = auth.client_certificate.take() {
            auth.client_certificate_data = Some(pki::base64_encode(&read_node_file(root, &file)?));
        }
        if let Some(file) = auth.client_key.take() {
            auth.client_key_data = Some(pki::base64_encode(&read_node_file(root, &file)?).into());
        }
    }
    if let Some(server) = server {
        for cluster in kubeconfig.clusters.iter_mut().filter_map(|c| c.cluster.as_mut()) {
            cluster.server = Some(server.to_owned());
        }
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .with_context(|| format!("`{}`", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

/// The bytes of node file `path`, which must exist.
pub(crate) fn read_node_file(root: &Root, path: &str) -> anyhow::Result<Vec<u8>> {
    root.read(path)?
        .with_context(|| format!("`{}` does not exist: run the phase that writes it first", root.path(path).unwrap_or_default().display()))
}

/// How long reset and certificate renewal wait for the cluster before going on without it.
pub(crate) const CLUSTER_ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The cluster's ClusterConfiguration from the `kubeadm-config` ConfigMap, over the kubeconfig at
/// node path `kubeconfig`, given up after `timeout` (reset and renewal must not hang on a
/// control plane that is down).
pub(crate) async fn cluster_configuration(
    root: &Root,
    kubeconfig: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<(kube::Client, bundle::kubeadm::ClusterConfiguration)> {
    let fetch = async {
        let client = kube_client(root, kubeconfig).await?;
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(client.clone(), "kube-system");
        let map = api.get("kubeadm-config").await?;
        let text = map
            .data
            .and_then(|d| d.get("ClusterConfiguration").cloned())
            .ok_or_else(|| anyhow::anyhow!("the kubeadm-config ConfigMap has no ClusterConfiguration key"))?;
        let cluster = crate::kubeadm::config::parse_documents(&text, "the kubeadm-config ConfigMap")?.cluster.unwrap_or_default();
        anyhow::Ok((client, cluster))
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| anyhow::anyhow!("no answer within {}s", timeout.as_secs()))?
}
