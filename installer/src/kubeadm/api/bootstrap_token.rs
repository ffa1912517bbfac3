//! `bootstrap-token` (kubeadm: cmd/kubeadm/app/cmd/phases/init/bootstraptoken.go,
//! phases/bootstraptoken/node/{token,tlsbootstrap}.go, phases/bootstraptoken/clusterinfo/clusterinfo.go,
//! apis/bootstraptoken/v1/utils.go) and `EnsureAdminClusterRoleBinding`
//! (phases/kubeconfig/kubeconfig.go).

use std::collections::BTreeMap;
use std::time::SystemTime;

use bundle::kubeadm::BootstrapToken;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{
    ApiError, KUBE_PUBLIC, KUBE_SYSTEM, NODE_BOOTSTRAP_TOKEN_GROUP, NODES_GROUP, apply_read_access, create_or_update, get_rule, group,
    meta, read_access, reason, request_error, role_ref, user,
};
use crate::kubeadm::config::{Version, is_token, parse_duration};
use crate::kubeadm::yaml::to_yaml;

/// `bootstrapapi.SecretTypeBootstrapToken`.
pub const SECRET_TYPE_BOOTSTRAP_TOKEN: &str = "bootstrap.kubernetes.io/token";
/// `bootstrapapi.ConfigMapClusterInfo`.
pub const CLUSTER_INFO: &str = "cluster-info";
/// `clusterinfo.BootstrapSignerClusterRoleName` (a Role and a RoleBinding in kube-public).
pub const BOOTSTRAP_SIGNER_CLUSTER_INFO: &str = "kubeadm:bootstrap-signer-clusterinfo";
/// `ClusterAdminsGroupAndClusterRoleBinding`.
pub const CLUSTER_ADMINS: &str = "kubeadm:cluster-admins";

/// `bootstraputil.BootstrapTokenSecretName`.
pub fn token_secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

/// `id` and `secret` of a resolved token.
pub fn split_token(token: &BootstrapToken) -> Result<(&str, &str), ApiError> {
    let text = token.token.as_deref().unwrap_or_default();
    match text.split_once('.') {
        Some(parts) if is_token(text) => Ok(parts),
        _ => Err(ApiError::Token(format!("`{text}` does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}"))),
    }
}

/// Go's `t.UTC().Format(time.RFC3339)`: whole seconds, `Z`.
pub fn rfc3339(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// `BootstrapTokenToSecret` (`encodeTokenSecretData`): `expires` wins over `ttl`; a zero ttl means
/// no expiration; `usage-bootstrap-<u>: "true"` per usage; groups joined with commas.
pub fn token_secret(token: &BootstrapToken, now: SystemTime) -> Result<Secret, ApiError> {
    let (id, secret) = split_token(token)?;
    let mut data = BTreeMap::from([("token-id".to_owned(), id.to_owned()), ("token-secret".to_owned(), secret.to_owned())]);
    if let Some(description) = token.description.as_deref().filter(|d| !d.is_empty()) {
        data.insert("description".into(), description.into());
    }
    if let Some(expiration) = expiration(token, now)? {
        data.insert("expiration".into(), expiration);
    }
    for usage in token.usages.iter().flatten() {
        data.insert(format!("usage-bootstrap-{usage}"), "true".into());
    }
    if let Some(groups) = token.groups.as_ref().filter(|g| !g.is_empty()) {
        data.insert("auth-extra-groups".into(), groups.join(","));
    }
    Ok(Secret {
        metadata: meta(Some(KUBE_SYSTEM), &token_secret_name(id)),
        type_: Some(SECRET_TYPE_BOOTSTRAP_TOKEN.into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v.into_bytes()))).collect()),
        ..Default::default()
    })
}

fn expiration(token: &BootstrapToken, now: SystemTime) -> Result<Option<String>, ApiError> {
    if let Some(expires) = &token.expires {
        let at = OffsetDateTime::parse(expires, &Rfc3339).map_err(|_| ApiError::Token(format!("expires `{expires}` is not RFC 3339")))?;
        return Ok(Some(rfc3339(at.into())));
    }
    let Some(ttl) = &token.ttl else { return Ok(None) };
    let ttl = parse_duration(ttl).ok_or_else(|| ApiError::Token(format!("ttl `{ttl}` is not a duration like 24h0m0s")))?;
    Ok((!ttl.is_zero()).then(|| rfc3339(now + ttl)))
}

fn cluster_role_binding(name: &str, cluster_role: &str, subject_group: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(None, name),
        role_ref: role_ref("ClusterRole", cluster_role),
        subjects: Some(vec![group(subject_group)]),
    }
}

/// `AllowBootstrapTokensToGetNodes`: ClusterRole + ClusterRoleBinding `kubeadm:get-nodes`.
pub fn get_nodes_access() -> (ClusterRole, ClusterRoleBinding) {
    let role = ClusterRole { metadata: meta(None, "kubeadm:get-nodes"), rules: Some(vec![get_rule("nodes", None)]), ..Default::default() };
    (role, cluster_role_binding("kubeadm:get-nodes", "kubeadm:get-nodes", NODE_BOOTSTRAP_TOKEN_GROUP))
}

/// The three ClusterRoleBindings of tlsbootstrap.go, in kubeadm's order, with the line each prints:
/// `kubeadm:kubelet-bootstrap`, `kubeadm:node-autoapprove-bootstrap`,
/// `kubeadm:node-autoapprove-certificate-rotation`.
pub fn tls_bootstrap_bindings() -> [(ClusterRoleBinding, &'static str); 3] {
    [
        (
            cluster_role_binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper", NODE_BOOTSTRAP_TOKEN_GROUP),
            "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials",
        ),
        (
            cluster_role_binding(
                "kubeadm:node-autoapprove-bootstrap",
                "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                NODE_BOOTSTRAP_TOKEN_GROUP,
            ),
            "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token",
        ),
        (
            cluster_role_binding(
                "kubeadm:node-autoapprove-certificate-rotation",
                "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                NODES_GROUP,
            ),
            "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster",
        ),
    ]
}

/// `AllowAPIServerToAccessKubeletAPI` (releases where `Version::kubelet_api_admin`): the API
/// server's kubelet client user bound to the built-in `system:kubelet-api-admin`.
pub fn kubelet_api_admin_binding() -> (ClusterRoleBinding, &'static str) {
    let binding = ClusterRoleBinding {
        metadata: meta(None, "kubeadm:apiserver-kubelet-client"),
        role_ref: role_ref("ClusterRole", "system:kubelet-api-admin"),
        subjects: Some(vec![user("kube-apiserver-kubelet-client")]),
    };
    (binding, "[bootstrap-token] Configured RBAC rules to allow the API server kubelet client certificate to access the kubelet API")
}

/// The `kubeconfig` value of `cluster-info`: `clientcmd.Write` of a Config holding only the
/// admin.conf current context's cluster, under the empty name (`preferences: {}` as the
/// client-go of minor `1.MINOR` writes it).
pub fn cluster_info_kubeconfig(admin_conf: &str, minor: u32) -> Result<String, ApiError> {
    let invalid = |reason: &str| ApiError::Invalid { path: "/etc/kubernetes/admin.conf".into(), reason: reason.into() };
    let config: Value = serde_saphyr::from_str(admin_conf).map_err(|e| invalid(&e.to_string()))?;
    let named = |list: &str, name: &str| config[list].as_array().and_then(|items| items.iter().find(|i| i["name"] == name)).cloned();
    let current = config["current-context"].as_str().unwrap_or_default();
    let context = named("contexts", current).ok_or_else(|| invalid("its current-context is not in contexts"))?;
    let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
    let cluster = named("clusters", cluster_name).ok_or_else(|| invalid("its current context's cluster is not in clusters"))?;
    let mut document = json!({
        "apiVersion": "v1",
        "clusters": [{ "cluster": cluster["cluster"], "name": "" }],
        "contexts": null,
        "current-context": "",
        "kind": "Config",
        "preferences": {},
        "users": null,
    });
    if minor >= crate::kubeadm::kubeconfig::PREFERENCES_OMITTED_FROM {
        document.as_object_mut().map(|d| d.remove("preferences"));
    }
    Ok(to_yaml(&document))
}

/// ConfigMap `cluster-info` in kube-public. The `jws-kubeconfig-<id>` keys are added later by the
/// controller-manager's bootstrapsigner, as with kubeadm.
pub fn cluster_info_config_map(kubeconfig: String) -> ConfigMap {
    ConfigMap {
        metadata: meta(Some(KUBE_PUBLIC), CLUSTER_INFO),
        data: Some(BTreeMap::from([("kubeconfig".into(), kubeconfig)])),
        ..Default::default()
    }
}

/// `CreateClusterInfoRBACRules`: anonymous users may read `cluster-info`.
pub fn cluster_info_access() -> (Role, RoleBinding) {
    read_access(KUBE_PUBLIC, BOOTSTRAP_SIGNER_CLUSTER_INFO, "configmaps", CLUSTER_INFO, vec![user("system:anonymous")])
}

/// `UpdateOrCreateTokens`: GET each token Secret (an existing one is an error when
/// `fail_if_exists`; kubeadm ignores GET errors), then create or update it.
pub async fn update_or_create_tokens(
    client: &Client,
    fail_if_exists: bool,
    tokens: &[BootstrapToken],
    now: SystemTime,
) -> Result<(), ApiError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), KUBE_SYSTEM);
    for token in tokens {
        let secret = token_secret(token, now)?;
        let (id, _) = split_token(token)?;
        match api.get(&token_secret_name(id)).await {
            Ok(_) if fail_if_exists => return Err(ApiError::TokenExists(id.into())),
            _ => {}
        }
        create_or_update(&api, &secret).await?;
    }
    Ok(())
}

/// The `bootstrap-token` phase: token Secrets, the RBAC rules of node TLS bootstrap, then
/// `cluster-info` (from `admin_conf`, the text of /etc/kubernetes/admin.conf) and its RBAC.
pub async fn bootstrap_token(
    client: &Client,
    tokens: &[BootstrapToken],
    admin_conf: &str,
    now: SystemTime,
    version: &Version,
) -> Result<Vec<String>, ApiError> {
    let minor = version.minor;
    let mut out = token_lines(tokens);
    out.push("[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles".into());
    update_or_create_tokens(client, false, tokens, now).await?;
    let (role, binding) = get_nodes_access();
    create_or_update(&Api::all(client.clone()), &role).await?;
    create_or_update(&Api::all(client.clone()), &binding).await?;
    out.push("[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes".into());
    for (binding, line) in tls_bootstrap_bindings() {
        create_or_update(&Api::all(client.clone()), &binding).await?;
        out.push(line.into());
    }
    if version.kubelet_api_admin() {
        let (binding, line) = kubelet_api_admin_binding();
        create_or_update(&Api::all(client.clone()), &binding).await?;
        out.push(line.into());
    }
    out.push(format!("[bootstrap-token] Creating the {CLUSTER_INFO:?} ConfigMap in the {KUBE_PUBLIC:?} namespace"));
    let config_map = cluster_info_config_map(cluster_info_kubeconfig(admin_conf, minor)?);
    create_or_update(&Api::namespaced(client.clone(), KUBE_PUBLIC), &config_map).await?;
    apply_read_access(client, cluster_info_access()).await?;
    Ok(out)
}

/// `[bootstrap-token] Using token: …` (kubeadm prints the list when there are several).
fn token_lines(tokens: &[BootstrapToken]) -> Vec<String> {
    let texts: Vec<&str> = tokens.iter().filter_map(|t| t.token.as_deref()).collect();
    match texts.as_slice() {
        [] => vec![],
        [one] => vec![format!("[bootstrap-token] Using token: {one}")],
        many => vec![format!("[bootstrap-token] Using tokens: [{}]", many.join(" "))],
    }
}

/// ClusterRoleBinding `kubeadm:cluster-admins` → ClusterRole `cluster-admin`.
pub fn admin_cluster_role_binding() -> ClusterRoleBinding {
    cluster_role_binding(CLUSTER_ADMINS, "cluster-admin", CLUSTER_ADMINS)
}

/// `EnsureAdminClusterRoleBindingImpl`: create the binding with the admin.conf client; success or
/// `AlreadyExists` ends it; `Forbidden` (admin.conf's group has no rights yet) retries with the
/// super-admin.conf client, where `AlreadyExists` is success too. kubeadm prints nothing here.
pub async fn ensure_admin_cluster_role_binding(admin: &Client, super_admin: Option<&Client>) -> Result<Vec<String>, ApiError> {
    let binding = admin_cluster_role_binding();
    let create = |client: &Client| {
        let api: Api<ClusterRoleBinding> = Api::all(client.clone());
        let binding = binding.clone();
        async move { api.create(&PostParams::default(), &binding).await.map(drop) }
    };
    match create(admin).await {
        Ok(()) => return Ok(vec![]),
        Err(e) if reason(&e) == Some("AlreadyExists") => return Ok(vec![]),
        Err(e) if reason(&e) == Some("Forbidden") => {}
        Err(e) => return Err(request_error::<ClusterRoleBinding>("create", &binding.metadata, e)),
    }
    let Some(super_admin) = super_admin else {
        return Err(ApiError::Invalid {
            path: "/etc/kubernetes/super-admin.conf".into(),
            reason: format!(
                "the ClusterRoleBinding for the {CLUSTER_ADMINS} Group is missing but there is no super-admin.conf to create it"
            ),
        });
    };
    match create(super_admin).await {
        Ok(()) => Ok(vec![]),
        Err(e) if reason(&e) == Some("AlreadyExists") => Ok(vec![]),
        Err(e) => Err(request_error::<ClusterRoleBinding>("create", &binding.metadata, e)),
    }
}
