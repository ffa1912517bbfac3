//! `bootstrap-token`: token Secrets against kubeadm's vectors, then the RBAC and the
//! cluster-info ConfigMap, in kubeadm's order.

use crate::kubeadm::Version;
use serde_json::json;

use super::*;

fn default_token() -> bundle::kubeadm::BootstrapToken {
    bundle::kubeadm::BootstrapToken {
        token: Some("abcdef.0123456789abcdef".into()),
        ttl: Some("24h0m0s".into()),
        usages: Some(vec!["signing".into(), "authentication".into()]),
        groups: Some(vec!["system:bootstrappers:kubeadm:default-node-token".into()]),
        ..Default::default()
    }
}

#[test]
fn token_secret_has_kubeadms_data_keys_and_expiration_from_ttl() {
    let secret = json_of(&token_secret(&default_token(), now()).unwrap());
    let b64 = |s: &str| json!(crate::kubeadm::certs::pki::base64_encode(s.as_bytes()));
    assert_eq!(secret["metadata"], json!({"name": "bootstrap-token-abcdef", "namespace": "kube-system"}));
    assert_eq!(secret["type"], "bootstrap.kubernetes.io/token");
    assert_eq!(
        secret["data"],
        json!({
            "token-id": b64("abcdef"), "token-secret": b64("0123456789abcdef"),
            "expiration": b64("2026-11-24T15:35:41Z"),
            "usage-bootstrap-signing": b64("true"), "usage-bootstrap-authentication": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
        })
    );
}

#[test]
fn token_secret_vectors_of_encode_token_secret_data() {
    // TestEncodeTokenSecretData (apis/bootstraptoken/v1/utils_test.go) with refTime = now().
    let data = |token: bundle::kubeadm::BootstrapToken| {
        token_secret(&token, now())
            .unwrap()
            .data
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect::<Vec<_>>()
    };
    let minimal = bundle::kubeadm::BootstrapToken { token: Some("abcdef.abcdef0123456789".into()), ..Default::default() };
    assert_eq!(data(minimal.clone()), [("token-id".into(), "abcdef".into()), ("token-secret".into(), "abcdef0123456789".into())]);
    let described = bundle::kubeadm::BootstrapToken { description: Some("foo".into()), ..minimal.clone() };
    assert!(data(described).contains(&("description".into(), "foo".into())));
    let ttl = bundle::kubeadm::BootstrapToken { ttl: Some("2h".into()), ..minimal.clone() };
    assert!(data(ttl.clone()).contains(&("expiration".into(), "2026-11-23T17:35:41Z".into())));
    let expires = bundle::kubeadm::BootstrapToken { expires: Some("2026-11-23T16:35:41+01:00".into()), ..ttl };
    assert!(data(expires).contains(&("expiration".into(), "2026-11-23T15:35:41Z".into())), "expires wins, in UTC");
    let groups = bundle::kubeadm::BootstrapToken {
        groups: Some(vec!["system:bootstrappers".into(), "system:bootstrappers:foo".into()]),
        ..minimal.clone()
    };
    assert!(data(groups).contains(&("auth-extra-groups".into(), "system:bootstrappers,system:bootstrappers:foo".into())));
    let bad = bundle::kubeadm::BootstrapToken { token: Some("Abcdef.abcdef0123456789".into()), ..minimal };
    assert!(token_secret(&bad, now()).is_err());
}

#[test]
fn cluster_info_kubeconfig_is_what_clientcmd_writes_for_one_unnamed_cluster() {
    assert_eq!(
        cluster_info_kubeconfig(ADMIN_CONF, 31).unwrap(),
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n    server: https://10.0.0.5:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n"
    );
    // client-go v0.34 leaves the empty preferences out (what real kubeadm v1.34 uploads: the
    // api_phases end-to-end test).
    assert_eq!(
        cluster_info_kubeconfig(ADMIN_CONF, 34).unwrap(),
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n    server: https://10.0.0.5:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n"
    );
}

#[tokio::test]
async fn bootstrap_token_creates_tokens_rbac_and_cluster_info_in_kubeadms_order() {
    let token = default_token();
    let secret = token_secret(&token, now()).unwrap();
    let (get_nodes, get_nodes_binding) = get_nodes_access();
    assert_eq!(json_of(&get_nodes)["rules"], json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["nodes"]}]));
    let [(kubelet_bootstrap, _), (autoapprove, _), (rotation, _)] = tls_bootstrap_bindings();
    assert_eq!(
        json_of(&rotation),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubeadm:node-autoapprove-certificate-rotation"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"},
            "subjects": [{"kind": "Group", "name": "system:nodes"}]})
    );
    let cluster_info = cluster_info_config_map(cluster_info_kubeconfig(ADMIN_CONF, 31).unwrap());
    let (info_role, info_binding) = cluster_info_access();
    assert_eq!(json_of(&info_binding)["subjects"], json!([{"kind": "User", "name": "system:anonymous"}]));
    let public = "/api/v1/namespaces/kube-public/configmaps";
    let public_rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public";
    let steps = vec![
        step("GET", format!("{SECRETS}/bootstrap-token-abcdef"), None, 404, status(404, "NotFound")),
        post(SECRETS, json_of(&secret)),
        post(CLUSTER_ROLES, json_of(&get_nodes)),
        post(CLUSTER_BINDINGS, json_of(&get_nodes_binding)),
        post(CLUSTER_BINDINGS, json_of(&kubelet_bootstrap)),
        step("POST", format!("{CLUSTER_BINDINGS}?"), None, 409, status(409, "AlreadyExists")),
        step("PUT", format!("{CLUSTER_BINDINGS}/kubeadm:node-autoapprove-bootstrap?"), Some(json_of(&autoapprove)), 200, None),
        post(CLUSTER_BINDINGS, json_of(&rotation)),
        post(public, json_of(&cluster_info)),
        post(&format!("{public_rbac}/roles"), json_of(&info_role)),
        post(&format!("{public_rbac}/rolebindings"), json_of(&info_binding)),
    ];
    let lines =
        scenario(steps, |c| async move { bootstrap_token(&c, &[token], ADMIN_CONF, now(), &Version::parse("v1.31.2").unwrap()).await })
            .await
            .unwrap();
    assert_eq!(
        lines,
        [
            "[bootstrap-token] Using token: abcdef.0123456789abcdef",
            "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles",
            "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
            "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to get long term certificate credentials",
            "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from a Node Bootstrap Token",
            "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in the cluster",
            "[bootstrap-token] Creating the \"cluster-info\" ConfigMap in the \"kube-public\" namespace",
        ]
    );
}

#[tokio::test]
async fn bootstrap_token_error_names_the_secret() {
    let steps = vec![
        step("GET", format!("{SECRETS}/bootstrap-token-abcdef"), None, 404, status(404, "NotFound")),
        step("POST", format!("{SECRETS}?"), None, 403, status(403, "Forbidden")),
    ];
    let err = scenario(steps, |c| async move {
        bootstrap_token(&c, &[default_token()], ADMIN_CONF, now(), &Version::parse("v1.31.2").unwrap()).await
    })
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "unable to create Secret \"kube-system/bootstrap-token-abcdef\"");
}

#[tokio::test]
async fn admin_binding_falls_back_to_super_admin_on_forbidden() {
    let binding = json_of(&admin_cluster_role_binding());
    assert_eq!(binding["roleRef"]["name"], "cluster-admin");
    assert_eq!(binding["subjects"], json!([{"kind": "Group", "name": "kubeadm:cluster-admins"}]));
    let admin = vec![step("POST", format!("{CLUSTER_BINDINGS}?"), Some(binding.clone()), 403, status(403, "Forbidden"))];
    let super_admin = vec![step("POST", format!("{CLUSTER_BINDINGS}?"), Some(binding.clone()), 201, None)];
    scenario(
        admin,
        |a| async move { scenario(super_admin, |s| async move { ensure_admin_cluster_role_binding(&a, Some(&s)).await }).await },
    )
    .await
    .unwrap();
    // AlreadyExists with admin.conf: done, super-admin.conf unused.
    let admin = vec![step("POST", format!("{CLUSTER_BINDINGS}?"), None, 409, status(409, "AlreadyExists"))];
    scenario(admin, |a| async move { ensure_admin_cluster_role_binding(&a, None).await }).await.unwrap();
    // Forbidden and no super-admin.conf.
    let admin = vec![step("POST", format!("{CLUSTER_BINDINGS}?"), None, 403, status(403, "Forbidden"))];
    let err = scenario(admin, |a| async move { ensure_admin_cluster_role_binding(&a, None).await }).await.unwrap_err();
    assert!(err.to_string().contains("no super-admin.conf"), "{err}");
    // Any other error names the binding.
    let admin = vec![step("POST", format!("{CLUSTER_BINDINGS}?"), None, 500, status(500, "InternalError"))];
    let err = scenario(admin, |a| async move { ensure_admin_cluster_role_binding(&a, None).await }).await.unwrap_err();
    assert_eq!(err.to_string(), "unable to create ClusterRoleBinding \"kubeadm:cluster-admins\"");
}

#[test]
fn the_apiserver_kubelet_client_binding_is_kubeadms_where_its_release_has_it() {
    let has = |v: &str| Version::parse(v).unwrap().kubelet_api_admin();
    assert!(!has("v1.33.6") && has("v1.33.13") && !has("v1.34.4") && !has("v1.35.4") && has("v1.36.0") && has("v1.37.2"));
    let (binding, line) = kubelet_api_admin_binding();
    assert_eq!(
        serde_json::to_value(&binding).unwrap(),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kubeadm:apiserver-kubelet-client"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
            "subjects": [{"kind": "User", "name": "kube-apiserver-kubelet-client"}],
        })
    );
    assert_eq!(
        line,
        "[bootstrap-token] Configured RBAC rules to allow the API server kubelet client certificate to access the kubelet API"
    );
}
