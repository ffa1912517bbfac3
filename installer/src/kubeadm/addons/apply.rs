//! The `addon` phase's API calls, with kubeadm's semantics (kubeadm: cmd/kubeadm/app/util/
//! apiclient/idempotency.go `CreateOrUpdate`/`CreateOrRetain`, phases/addons/dns/dns.go,
//! phases/addons/proxy/proxy.go): create; on AlreadyExists, update (PUT) the whole object.
//!
//! Not ported: kubeadm retries each call until its API-call timeout; CoreDNS Corefile
//! migration (an upgrade concern: a non-default Corefile is retained, as kubeadm does when no
//! migration is needed).

use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;
use tracing::debug;

use super::coredns::{DEFAULT_REPLICAS, coredns_objects_with_replicas, corefile_for, dns_disabled};
use super::proxy::{kube_proxy_objects_with_env, proxy_disabled};
use super::{AddonError, KUBE_SYSTEM};
use crate::kubeadm::InitConfig;
use crate::kubeadm::patches::{self, Patches};

/// kubeadm's line once CoreDNS is applied.
pub const APPLIED_COREDNS: &str = "[addons] Applied essential addon: CoreDNS";
/// kubeadm's line once kube-proxy is applied.
pub const APPLIED_KUBE_PROXY: &str = "[addons] Applied essential addon: kube-proxy";
/// kubeadm's patch target for the CoreDNS Deployment (`patches.CoreDNSDeployment`).
const COREDNS_PATCH_TARGET: &str = "corednsdeployment";
/// The label of kubeadm's DNS Deployment (`k8s-app=kube-dns`).
const DNS_SELECTOR: &str = "k8s-app=kube-dns";

/// `EnsureDNSAddon`: keeps the replica count of an existing DNS Deployment, applies the
/// `corednsdeployment` patches of `patches.directory`, creates or updates the CoreDNS objects
/// (retaining a user-modified Corefile) and returns kubeadm's output lines.
/// Nothing is done when `dns.disabled` is set.
pub async fn apply_coredns(client: &Client, cfg: &InitConfig) -> Result<Vec<String>, AddonError> {
    if dns_disabled(cfg) {
        return Ok(Vec::new());
    }
    let replicas = deployed_dns_replicas(client).await?;
    let mut objects = coredns_objects_with_replicas(cfg, replicas)?;
    let mut lines = Vec::new();
    if let Some(dir) = &cfg.patches_dir {
        lines = patch_deployment(&mut objects, Path::new(dir))?;
    }
    let [config_map, rest @ .., service] = objects.as_slice() else {
        unreachable!("coredns_objects_with_replicas returns six objects");
    };
    ensure_corefile(client, cfg, config_map).await?;
    for object in rest {
        create_or_update(client, object, false).await?;
    }
    // kubeadm's createDNSService: an Invalid create (the IP is already allocated) is updated too.
    create_or_update(client, service, true).await?;
    lines.push(APPLIED_COREDNS.to_owned());
    Ok(lines)
}

/// `applyCoreDNSDeploymentPatch` (kubeadm v1.31+, kubernetes/kubernetes#124820): the
/// `corednsdeployment` patches of `patches.directory`, with kubeadm's line per patch applied.
/// kubeadm's `[patches] Reading patches…` lines are printed once per process, by the
/// control-plane phase, so they are not repeated here.
fn patch_deployment(objects: &mut [Value], dir: &Path) -> Result<Vec<String>, AddonError> {
    let patches = Patches::read(dir).map_err(AddonError::Patch)?;
    let Some(deployment) = objects.iter_mut().find(|o| o["kind"] == "Deployment") else {
        return Ok(Vec::new());
    };
    let (patched, applied) = patches.apply(COREDNS_PATCH_TARGET, deployment.take()).map_err(AddonError::Patch)?;
    *deployment = patched;
    Ok(applied.iter().map(|file| patches::applied_line(file.kind, COREDNS_PATCH_TARGET)).collect())
}

/// `EnsureProxyAddon`: creates or updates the kube-proxy objects and returns kubeadm's output
/// lines. `host_env` is airadm's environment, whose `*_proxy` variables kube-proxy inherits.
/// Nothing is done when `proxy.disabled` is set.
pub async fn apply_kube_proxy(client: &Client, cfg: &InitConfig, host_env: &[(String, String)]) -> Result<Vec<String>, AddonError> {
    if proxy_disabled(cfg) {
        return Ok(Vec::new());
    }
    for object in &kube_proxy_objects_with_env(cfg, host_env)? {
        create_or_update(client, object, false).await?;
    }
    Ok(vec![APPLIED_KUBE_PROXY.to_owned()])
}

/// `deployedDNSReplicas`: the replicas of the one `k8s-app=kube-dns` Deployment, if there is one.
async fn deployed_dns_replicas(client: &Client) -> Result<i64, AddonError> {
    let deployments = dns_deployments(client).await?;
    Ok(match deployments.as_slice() {
        [] => DEFAULT_REPLICAS,
        [one] => one.spec.as_ref().and_then(|s| s.replicas).map_or(DEFAULT_REPLICAS, i64::from),
        _ => return Err(multiple_deployments(&deployments)),
    })
}

async fn dns_deployments(client: &Client) -> Result<Vec<Deployment>, AddonError> {
    debug!(selector = DNS_SELECTOR, "listing DNS Deployments");
    let api: Api<Deployment> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    let list = api.list(&ListParams::default().labels(DNS_SELECTOR)).await.map_err(|source| AddonError::Api {
        verb: "list",
        object: format!("the Deployments labelled {DNS_SELECTOR} in {KUBE_SYSTEM}"),
        source,
    })?;
    Ok(list.items)
}

fn multiple_deployments(deployments: &[Deployment]) -> AddonError {
    AddonError::MultipleDnsDeployments { names: deployments.iter().filter_map(|d| d.metadata.name.clone()).collect() }
}

/// `createCoreDNSAddon`'s ConfigMap step at init: no ConfigMap or kubeadm's own Corefile →
/// create or update; a Corefile the user changed → retained.
async fn ensure_corefile(client: &Client, cfg: &InitConfig, config_map: &Value) -> Result<(), AddonError> {
    let Some(current) = current_corefile(client).await? else {
        return create_or_update(client, config_map, false).await;
    };
    // GetCoreDNSInfo also lists the DNS Deployments to learn the installed CoreDNS version,
    // which only feeds the migration this port leaves out; the listing can still fail.
    let deployments = dns_deployments(client).await?;
    if deployments.len() > 1 {
        return Err(multiple_deployments(&deployments));
    }
    let defaults = [corefile_for(&cfg.dns_domain, true), corefile_for(&cfg.dns_domain, false)];
    if current.is_empty() || defaults.contains(&current) {
        create_or_update(client, config_map, false).await
    } else {
        debug!("retaining the modified CoreDNS Corefile");
        create_or_retain(client, config_map).await
    }
}

/// `GetCoreDNSInfo`: the Corefile of ConfigMap `coredns`, `None` when there is no ConfigMap.
async fn current_corefile(client: &Client) -> Result<Option<String>, AddonError> {
    let object = format!("ConfigMap {KUBE_SYSTEM}/coredns");
    debug!(%object, "reading the current Corefile");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    match api.get("coredns").await {
        Ok(map) => map.data.and_then(|mut d| d.remove("Corefile")).map(Some).ok_or(AddonError::NoCorefile { object }),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(source) => Err(AddonError::Api { verb: "get", object, source }),
    }
}

/// `apiclient.CreateOrUpdate`; with `or_invalid`, an Invalid create is also updated.
async fn create_or_update(client: &Client, object: &Value, or_invalid: bool) -> Result<(), AddonError> {
    let target = Target::of(client, object)?;
    debug!(object = %target.describe, "creating");
    match target.api.create(&PostParams::default(), &target.body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_already_exists() || (or_invalid && status.is_invalid()) => {
            debug!(object = %target.describe, reason = %status.reason, "updating");
            target.api.replace(&target.name, &PostParams::default(), &target.body).await.map(drop).map_err(|source| AddonError::Api {
                verb: "update",
                object: target.describe.clone(),
                source,
            })
        }
        Err(source) => Err(AddonError::Api { verb: "create", object: target.describe, source }),
    }
}

/// `apiclient.CreateOrRetain…`: creates the object unless it exists.
async fn create_or_retain(client: &Client, object: &Value) -> Result<(), AddonError> {
    let target = Target::of(client, object)?;
    match target.api.get(&target.name).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.is_not_found() => target
            .api
            .create(&PostParams::default(), &target.body)
            .await
            .map(drop)
            .map_err(|source| AddonError::Api { verb: "create", object: target.describe.clone(), source }),
        Err(source) => Err(AddonError::Api { verb: "get", object: target.describe, source }),
    }
}

/// One rendered object and the dynamic API that serves its kind.
struct Target {
    api: Api<DynamicObject>,
    name: String,
    describe: String,
    body: DynamicObject,
}

impl Target {
    fn of(client: &Client, object: &Value) -> Result<Self, AddonError> {
        let text = |key: &str| object.pointer(key).and_then(Value::as_str).unwrap_or_default();
        let (kind, name, namespace) = (text("/kind"), text("/metadata/name"), text("/metadata/namespace"));
        let (group, version) = text("/apiVersion").rsplit_once('/').unwrap_or(("", text("/apiVersion")));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let (api, describe) = if namespace.is_empty() {
            (Api::all_with(client.clone(), &resource), format!("{kind} {name}"))
        } else {
            (Api::namespaced_with(client.clone(), namespace, &resource), format!("{kind} {namespace}/{name}"))
        };
        let body = serde_json::from_value(object.clone()).map_err(|source| AddonError::Render { object: describe.clone(), source })?;
        Ok(Self { api, name: name.to_owned(), describe, body })
    }
}
