//! A stacked etcd cluster's membership over mTLS (kubeadm: util/etcd/etcd.go and
//! phases/etcd/local.go): the members are found through the etcd Pods' advertise-client-urls
//! annotation, reached with the `healthcheck-client` certificate, and a control-plane node's
//! member is removed by its peer URL.

use std::time::Duration;

use etcd_client::{Certificate, ConnectOptions, Identity, TlsOptions};
use k8s_openapi::api::core::v1::Pod;

use super::files::Root;

/// The etcd Pods' annotation naming each member's client URL.
pub const CLIENT_URLS_ANNOTATION: &str = "kubeadm.kubernetes.io/etcd.advertise-client-urls";

/// How long one etcd call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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

/// kubeadm's `RemoveStackedEtcdMemberFromCluster`: removes the member with `local`'s peer URL,
/// unless it is the last one (and reached on its own client URL). Returns what it did.
pub async fn remove_member(etcd: &mut etcd_client::Client, endpoints: &[String], local: &LocalMember) -> anyhow::Result<Removal> {
    let members = etcd.member_list().await?;
    let members = members.members();
    if members.len() == 1 && endpoints.contains(&local.client_url) {
        return Ok(Removal::LastMember);
    }
    let member = members
        .iter()
        .find(|m| m.peer_urls().contains(&local.peer_url))
        .ok_or_else(|| anyhow::anyhow!("no etcd member has the peer URL {}", local.peer_url))?;
    let id = member.id();
    let left = etcd.member_remove(id).await?;
    Ok(Removal::Removed { id, left: left.members().len() })
}

/// What [`remove_member`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// This was the cluster's only member: nothing to tell anyone.
    LastMember,
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
