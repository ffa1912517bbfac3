//! A stacked etcd cluster's membership over mTLS (kubeadm: util/etcd/etcd.go and
//! phases/etcd/local.go): the members are found through the etcd Pods' advertise-client-urls
//! annotation, reached with the `healthcheck-client` certificate; a joining control-plane node's
//! member is added as a learner and promoted once it has started, and a leaving one's is removed
//! by its peer URL.

use std::time::{Duration, Instant};

use etcd_client::{Certificate, ConnectOptions, Identity, MemberAddOptions, TlsOptions};
use k8s_openapi::api::core::v1::Pod;

use super::files::Root;

/// The etcd Pods' annotation naming each member's client URL.
pub const CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// How long one etcd call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// kubeadm's `EtcdAPICallRetryInterval`.
const RETRY: Duration = Duration::from_millis(500);

/// This node's member, as its etcd static Pod manifest advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMember {
    /// `--advertise-client-urls`.
    pub client_url: String,
    /// `--initial-advertise-peer-urls`.
    pub peer_url: String,
}

/// The URLs of this node's member in its etcd manifest (`/etc/kubernetes/manifests/etcd.yaml`).
pub fn local_member(manifest: &str) -> Option<LocalMember> {
    let pod: serde_json::Value = serde_saphyr::from_str(manifest).ok()?;
    let command = pod["spec"]["containers"].get(0)?["command"].as_array()?;
    let flag = |name: &str| {
        command
            .iter()
            .filter_map(serde_json::Value::as_str)
            .find_map(|arg| arg.strip_prefix(name))
            .map(|v| v.split(',').next().unwrap_or(v).to_owned())
    };
    Some(LocalMember { client_url: flag("--advertise-client-urls=")?, peer_url: flag("--initial-advertise-peer-urls=")? })
}

/// kubeadm's `getEtcdEndpoints`: the client URL each etcd Pod of kube-system advertises.
pub async fn endpoints(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let api: kube::Api<Pod> = kube::Api::namespaced(client.clone(), "kube-system");
    let pods = api.list(&kube::api::ListParams::default().labels("component=etcd,tier=control-plane")).await?;
    let mut urls: Vec<String> =
        pods.items.iter().filter_map(|pod| pod.metadata.annotations.as_ref()?.get(CLIENT_URLS_ANNOTATION).cloned()).collect();
    urls.sort();
    urls.dedup();
    anyhow::ensure!(!urls.is_empty(), "no etcd Pod in kube-system has the {CLIENT_URLS_ANNOTATION} annotation");
    Ok(urls)
}

/// An etcd client on `endpoints` with the node's `etcd/ca.crt` and `etcd/healthcheck-client`
/// pair under `cert_dir`.
pub async fn connect(root: &Root, cert_dir: &str, endpoints: &[String]) -> anyhow::Result<etcd_client::Client> {
    let read = |name: &str| crate::phases::client::read_node_file(root, &format!("{}/etcd/{name}", cert_dir.trim_end_matches('/')));
    let tls = TlsOptions::new()
        .ca_certificate(Certificate::from_pem(read("ca.crt")?))
        .identity(Identity::from_pem(read("healthcheck-client.crt")?, read("healthcheck-client.key")?));
    let options = ConnectOptions::new().with_tls(tls).with_connect_timeout(CALL_TIMEOUT).with_timeout(CALL_TIMEOUT);
    Ok(etcd_client::Client::connect(endpoints, Some(options)).await?)
}

/// kubeadm's `etcdutil.Client`: the client URLs of the members (synchronised with the
/// membership) and the node's client certificate, from `NewFromCluster`.
pub struct EtcdCluster {
    /// Every member's client URL (a learner's once added).
    pub endpoints: Vec<String>,
    root: Root,
    cert_dir: String,
}

/// A member's name and peer URL, for `--initial-cluster`.
pub type NamedPeer = (String, String);

impl EtcdCluster {
    /// kubeadm's `NewFromCluster`: the endpoints of the etcd Pods (waited for until every etcd
    /// Pod has its annotation, up to `timeout`), then synchronised with the member list.
    pub async fn from_cluster(client: &kube::Client, root: &Root, cert_dir: &str, timeout: Duration) -> anyhow::Result<Self> {
        let deadline = Instant::now() + timeout;
        let endpoints = loop {
            match endpoints(client).await {
                Ok(urls) => break urls,
                Err(e) if Instant::now() >= deadline => return Err(e.context("could not read the etcd endpoints from the etcd Pods")),
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        };
        let mut cluster = Self { endpoints, root: root.clone(), cert_dir: cert_dir.to_owned() };
        let members = cluster.retry("syncing endpoints with etcd", deadline, |mut etcd| async move { etcd.member_list().await }).await?;
        let mut synced: Vec<String> = members.members().iter().flat_map(|m| m.client_urls().iter().cloned()).collect();
        synced.sort();
        synced.dedup();
        if !synced.is_empty() {
            cluster.endpoints = synced;
        }
        Ok(cluster)
    }

    async fn client(&self, endpoints: &[String]) -> anyhow::Result<etcd_client::Client> {
        connect(&self.root, &self.cert_dir, endpoints).await
    }

    /// Runs `call` on a fresh client of every endpoint every 500 ms until it succeeds or
    /// `deadline` passes; then the last error, named `what`.
    async fn retry<T, F, Fut>(&self, what: &str, deadline: Instant, call: F) -> anyhow::Result<T>
    where
        F: Fn(etcd_client::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>>,
    {
        loop {
            let attempt = match self.client(&self.endpoints).await {
                Ok(etcd) => call(etcd).await.map_err(anyhow::Error::new),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(value) => return Ok(value),
                Err(e) if Instant::now() >= deadline => return Err(e.context(format!("{what} ({})", self.endpoints.join(",")))),
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }

    /// kubeadm's `AddMemberAsLearner`: adds `peer_url` as a learner unless a member has it
    /// already; returns the members, the new one named `name`, and talks to its client URL from
    /// then on.
    pub async fn add_learner(&mut self, name: &str, peer_url: &str, timeout: Duration) -> anyhow::Result<Vec<NamedPeer>> {
        let deadline = Instant::now() + timeout;
        let peer = peer_url.to_owned();
        let members = self
            .retry("adding the etcd member", deadline, |mut etcd| {
                let peer = peer.clone();
                async move {
                    let listed = etcd.member_list().await?;
                    if listed.members().iter().any(|m| m.peer_urls().first() == Some(&peer)) {
                        return Ok(listed.members().to_vec());
                    }
                    match etcd.member_add([peer.as_str()], Some(MemberAddOptions::new().with_is_learner())).await {
                        Ok(added) => Ok(added.member_list().to_vec()),
                        Err(etcd_client::Error::GRpcStatus(status)) if status.message().contains("Peer URLs already exists") => {
                            Ok(etcd.member_list().await?.members().to_vec())
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .await?;
        let named = members
            .iter()
            .map(|m| {
                let url = m.peer_urls().first().cloned().unwrap_or_default();
                let member = if url == peer_url {
                    name.to_owned()
                } else if m.name().is_empty() {
                    format!("{:x}", m.id())
                } else {
                    m.name().to_owned()
                };
                (member, url)
            })
            .collect();
        if let Some(host) = peer_url.strip_prefix("https://").and_then(|rest| rest.rsplit_once(':')).map(|(host, _)| host) {
            self.endpoints.push(format!("https://{host}:2379"));
        }
        Ok(named)
    }

    /// kubeadm's `GetMemberID`.
    pub async fn member_id(&self, peer_url: &str, timeout: Duration) -> anyhow::Result<u64> {
        let members =
            self.retry("listing the etcd members", Instant::now() + timeout, |mut etcd| async move { etcd.member_list().await }).await?;
        members
            .members()
            .iter()
            .find(|m| m.peer_urls().first().map(String::as_str) == Some(peer_url))
            .map(etcd_client::Member::id)
            .ok_or_else(|| anyhow::anyhow!("no member id found for peer URL {peer_url}"))
    }

    /// kubeadm's `MemberPromote`: waits until the learner has started (it has a name), then
    /// promotes it, each step retried until `timeout`. An already voting member is left alone.
    pub async fn promote(&self, id: u64, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let members = self.retry("listing the etcd members", deadline, |mut etcd| async move { etcd.member_list().await }).await?;
            let member = members.members().iter().find(|m| m.id() == id).ok_or_else(|| anyhow::anyhow!("etcd member {id:x} not found"))?;
            if !member.is_learner() {
                return Ok(());
            }
            if !member.name().is_empty() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the etcd member {id:x} is not started after {timeout:?}");
            tokio::time::sleep(RETRY).await;
        }
        self.retry(&format!("promoting the etcd learner {id:x}"), deadline, |mut etcd| async move { etcd.member_promote(id).await })
            .await
            .map(|_| ())
    }

    /// kubeadm's `getClusterStatus`: every endpoint answers a status request, each retried
    /// until `timeout`.
    pub async fn check_health(&self, timeout: Duration) -> anyhow::Result<()> {
        for endpoint in &self.endpoints {
            let deadline = Instant::now() + timeout;
            loop {
                let attempt = match self.client(std::slice::from_ref(endpoint)).await {
                    Ok(mut etcd) => etcd.status().await.map(|_| ()).map_err(anyhow::Error::new),
                    Err(e) => Err(e),
                };
                match attempt {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => return Err(e.context(format!("etcd member {endpoint} did not answer"))),
                    Err(_) => tokio::time::sleep(RETRY).await,
                }
            }
        }
        Ok(())
    }

    /// kubeadm's `WaitForClusterAvailable(retries, interval)`.
    pub async fn wait_available(&self, retries: u32, interval: Duration, call_timeout: Duration) -> anyhow::Result<()> {
        for attempt in 0..retries {
            if attempt > 0 {
                tokio::time::sleep(interval).await;
            }
            if self.check_health(call_timeout).await.is_ok() {
                return Ok(());
            }
        }
        anyhow::bail!("timeout waiting for etcd cluster to be available")
    }
}

/// kubeadm's `RemoveStackedEtcdMemberFromCluster`: removes the member with `local`'s peer URL,
/// unless it is the last one (and reached on its own client URL). Returns what it did.
pub async fn remove_member(etcd: &mut etcd_client::Client, endpoints: &[String], local: &LocalMember) -> anyhow::Result<Removal> {
    let members = etcd.member_list().await?;
    let members = members.members();
    if members.len() == 1 && endpoints.contains(&local.client_url) {
        return Ok(Removal::LastMember);
    }
    let Some(member) = members.iter().find(|m| m.peer_urls().contains(&local.peer_url)) else {
        return Ok(Removal::AlreadyGone);
    };
    let id = member.id();
    let left = etcd.member_remove(id).await?;
    Ok(Removal::Removed { id, left: left.members().len() })
}

/// What [`remove_member`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// This was the cluster's only member: nothing to tell anyone.
    LastMember,
    /// No member has this node's peer URL (removed before).
    AlreadyGone,
    /// Member `id` was removed; `left` members remain.
    Removed {
        /// The member's id.
        id: u64,
        /// How many remain.
        left: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_member_is_read_from_the_etcd_manifest() {
        let manifest = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls=https://10.0.0.5:2379\n    - --initial-advertise-peer-urls=https://10.0.0.5:2380\n    name: etcd\n";
        assert_eq!(
            local_member(manifest),
            Some(LocalMember { client_url: "https://10.0.0.5:2379".into(), peer_url: "https://10.0.0.5:2380".into() })
        );
        assert_eq!(local_member("apiVersion: v1\nkind: Pod\nspec:\n  containers: []\n"), None);
    }
}
