//! Tests of the API phases: pure builders against kubeadm's vectors, appliers against a
//! tower-test mock API server that asserts each request kubeadm's behaviour implies.

use std::future::Future;
use std::time::{Duration, SystemTime};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::*;
use crate::kubeadm::certs::tests::config_with;
use crate::kubeadm::config::InitFlags;

// ---- the mock: one expected request and its reply per step --------------------------------

/// One exchange: the request kubeadm would send and the API server's answer.
struct Step {
    method: &'static str,
    /// Path and query, e.g. `/api/v1/namespaces/kube-system/configmaps?`.
    uri: String,
    /// The exact JSON body, when the step checks it.
    body: Option<Value>,
    /// Assertions on a body that cannot be compared exactly (random nonces).
    check: Option<fn(&Value)>,
    status: u16,
    /// `None`: echo the request body back (what a create/update returns).
    reply: Option<Value>,
}

fn step(method: &'static str, uri: impl Into<String>, body: Option<Value>, status: u16, reply: Option<Value>) -> Step {
    Step { method, uri: uri.into(), body, check: None, status, reply }
}

/// A `metav1.Status` failure as the API server sends it.
fn status(code: u16, reason: &str) -> Option<Value> {
    Some(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason}))
}

/// Runs `phase` against a mock that must receive exactly `steps`, in order.
async fn scenario<F, T>(steps: Vec<Step>, phase: impl FnOnce(Client) -> F) -> T
where
    F: Future<Output = T>,
{
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = std::pin::pin!(handle);
        for (i, step) in steps.into_iter().enumerate() {
            let (request, send) =
                handle.next_request().await.unwrap_or_else(|| panic!("step {i}: no request for {} {}", step.method, step.uri));
            let uri = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
            assert_eq!((request.method().as_str(), uri.as_str()), (step.method, step.uri.as_str()), "step {i}");
            let bytes = request.into_body().collect_bytes().await.unwrap_or_default();
            if step.body.is_some() || step.check.is_some() {
                let got: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("step {i}: body is not JSON"));
                if let Some(expected) = &step.body {
                    assert_eq!(&got, expected, "step {i}: body of {} {}", step.method, step.uri);
                }
                step.check.into_iter().for_each(|check| check(&got));
            }
            let reply = step.reply.map(|v| v.to_string().into_bytes()).unwrap_or_else(|| bytes.to_vec());
            send.send_response(Response::builder().status(step.status).body(Body::from(reply)).unwrap());
        }
    });
    let result = tokio::time::timeout(Duration::from_secs(10), phase(Client::new(service, "default"))).await.expect("phase timed out");
    server.await.expect("the mock saw an unexpected request sequence");
    result
}

fn json_of<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

const CM: &str = "/api/v1/namespaces/kube-system/configmaps";
const SECRETS: &str = "/api/v1/namespaces/kube-system/secrets";
const ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles";
const BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings";
const CLUSTER_ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const CLUSTER_BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";

fn post(path: &str, object: Value) -> Step {
    step("POST", format!("{path}?"), Some(object), 201, None)
}

fn now() -> SystemTime {
    // 2026-11-23T15:35:41Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_448_141)
}

// ---- upload-config ---------------------------------------------------------------------------

#[tokio::test]
async fn upload_kubeadm_config_creates_the_config_map_then_its_role_and_binding() {
    let cfg = config_with(InitFlags::default(), None);
    let map = kubeadm_config_map(&cfg).unwrap();
    let (role, binding) = kubeadm_config_access();
    assert_eq!(
        json_of(&role)["rules"],
        json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"]}])
    );
    assert_eq!(
        json_of(&binding)["subjects"],
        json!([{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}, {"kind": "Group", "name": "system:nodes"}])
    );
    assert!(map.data.as_ref().unwrap()["ClusterConfiguration"].contains("kind: ClusterConfiguration\n"));
    let steps = vec![post(CM, json_of(&map)), post(ROLES, json_of(&role)), post(BINDINGS, json_of(&binding))];
    let lines = scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap();
    assert_eq!(lines, ["[upload-config] Storing the configuration used in ConfigMap \"kubeadm-config\" in the \"kube-system\" Namespace"]);
}

#[tokio::test]
async fn upload_kubeadm_config_mutates_the_stored_config_map_and_replaces_existing_rbac() {
    let cfg = config_with(InitFlags::default(), None);
    let map = kubeadm_config_map(&cfg).unwrap();
    let (role, binding) = kubeadm_config_access();
    let stored = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system", "resourceVersion": "7"},
        "data": {"ClusterConfiguration": "old", "Other": "kept"}});
    let mut mutated = stored.clone();
    mutated["data"]["ClusterConfiguration"] = json_of(&map)["data"]["ClusterConfiguration"].clone();
    let steps = vec![
        step("POST", format!("{CM}?"), None, 409, status(409, "AlreadyExists")),
        step("GET", format!("{CM}/kubeadm-config"), None, 200, Some(stored)),
        step("PUT", format!("{CM}/kubeadm-config?"), Some(mutated), 200, None),
        step("POST", format!("{ROLES}?"), None, 409, status(409, "AlreadyExists")),
        step("PUT", format!("{ROLES}/kubeadm:nodes-kubeadm-config?"), Some(json_of(&role)), 200, None),
        post(BINDINGS, json_of(&binding)),
    ];
    scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap();
}

#[tokio::test]
async fn upload_kubeadm_config_error_names_the_object() {
    let cfg = config_with(InitFlags::default(), None);
    let steps = vec![step("POST", format!("{CM}?"), None, 500, status(500, "InternalError"))];
    let err = scenario(steps, |c| async move { upload_kubeadm_config(&c, &cfg).await }).await.unwrap_err();
    assert_eq!(err.to_string(), "unable to create ConfigMap \"kube-system/kubeadm-config\"");
}

#[tokio::test]
async fn upload_kubelet_config_signs_the_config_map_and_replaces_on_already_exists() {
    let document = json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "rotateCertificates": true});
    let map = kubelet_config_map(&document, false);
    let yaml = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\n";
    let hash = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(yaml)));
    assert_eq!(json_of(&map)["data"]["kubelet"], yaml);
    assert_eq!(json_of(&map)["metadata"]["annotations"]["kubeadm.kubernetes.io/component-config.hash"], hash.as_str());
    assert!(kubelet_config_map(&document, true).metadata.annotations.is_none(), "user-supplied configs are not signed");
    let (role, binding) = kubelet_config_access();
    assert_eq!(json_of(&role)["rules"][0]["resourceNames"], json!(["kubelet-config"]));
    let steps = vec![
        step("POST", format!("{CM}?"), None, 409, status(409, "AlreadyExists")),
        step("PUT", format!("{CM}/kubelet-config?"), Some(json_of(&map)), 200, None),
        post(ROLES, json_of(&role)),
        post(BINDINGS, json_of(&binding)),
    ];
    let lines = scenario(steps, |c| async move { upload_kubelet_config(&c, &document, false).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[kubelet] Creating a ConfigMap \"kubelet-config\" in namespace kube-system with the configuration for the kubelets in the cluster"
        ]
    );
}

// ---- bootstrap-token -------------------------------------------------------------------------

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

const ADMIN_CONF: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n    server: https://10.0.0.5:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nkind: Config\npreferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: Q0VSVAo=\n    client-key-data: S0VZCg==\n";

#[test]
fn cluster_info_kubeconfig_is_what_clientcmd_writes_for_one_unnamed_cluster() {
    assert_eq!(
        cluster_info_kubeconfig(ADMIN_CONF).unwrap(),
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n    server: https://10.0.0.5:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\npreferences: {}\nusers: null\n"
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
    let cluster_info = cluster_info_config_map(cluster_info_kubeconfig(ADMIN_CONF).unwrap());
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
    let lines = scenario(steps, |c| async move { bootstrap_token(&c, &[token], ADMIN_CONF, now()).await }).await.unwrap();
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
    let err = scenario(steps, |c| async move { bootstrap_token(&c, &[default_token()], ADMIN_CONF, now()).await }).await.unwrap_err();
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

// ---- upload-certs ----------------------------------------------------------------------------

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn aes_gcm_matches_the_fixed_vector_and_round_trips() {
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let plain = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.";
    let sealed = encrypt_with_nonce(plain, &key, [0; 12], "x").unwrap();
    assert_eq!(
        hex::encode(&sealed),
        "00000000000000000000000042d3c7bbd80ceacd7bddc4157c43fdf6a063253a5ca10142e5ea9fa3a69033252b3c92d95e87ca2652a71885a8bd0a27c76061831518328b72201d2ac8b368ec2ad4bc373ba79b6d"
    );
    let random = encrypt(plain, &key, "x").unwrap();
    assert_eq!(decrypt(&random, &key, "ca.key").unwrap(), plain);
    let mut tampered = random.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(decrypt(&tampered, &key, "ca.key").unwrap_err().to_string(), "failed to decrypt \"ca.key\" with the certificate key");
    assert!(decrypt(&random[..11], &key, "x").is_err());
    assert!(decode_certificate_key("abc").is_err());
    let generated = create_certificate_key();
    assert_eq!(generated.len(), 64);
    assert!(decode_certificate_key(&generated).is_ok());
    assert_ne!(generated, create_certificate_key());
}

#[test]
fn certs_to_transfer_names_kubeadms_files() {
    let cfg = config_with(InitFlags::default(), None);
    let names: Vec<String> = certs_to_transfer(&cfg).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]);
    assert!(certs_to_transfer(&cfg).contains(&("etcd-ca.key".into(), "/etc/kubernetes/pki/etcd/ca.key".into())));
}

#[test]
fn external_etcd_files_left_unset_are_empty_values_as_in_kubeadm() {
    let yaml =
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [\"http://10.0.0.9:2379\"]\n";
    let cfg = config_with(InitFlags::default(), Some(yaml));
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    root.write("/etc/kubernetes/pki/ca.crt", b"CA CERT", 0o644).unwrap();
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let data = encrypted_files(&cfg, &root, &key).unwrap();
    assert_eq!(data["external-etcd-ca.crt"], b"", "kubeadm reads `` as a missing file");
    assert_eq!(decrypt(&data["ca.crt"], &key, "ca.crt").unwrap(), b"CA CERT");
    // A file that exists but cannot be read is an error naming it, not an empty value.
    fs_err::create_dir_all(dir.path().join("etc/kubernetes/pki/sa.key")).unwrap();
    let err = encrypted_files(&cfg, &root, &key).unwrap_err();
    assert!(err.to_string().starts_with("failed to access `/etc/kubernetes/pki/sa.key`"), "{err}");
}

#[tokio::test]
async fn upload_certs_stores_encrypted_files_owned_by_a_short_lived_token() {
    let cfg = config_with(InitFlags::default(), None);
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    root.write("/etc/kubernetes/pki/ca.crt", b"CA CERT", 0o644).unwrap();
    let token_secret_object = token_secret(&cert_token("uvwxyz.0123456789abcdef"), now()).unwrap();
    let data = json_of(&token_secret_object)["data"].clone();
    assert_eq!(data.as_object().unwrap().keys().collect::<Vec<_>>(), ["description", "expiration", "token-id", "token-secret"]);
    let mut stored = json_of(&token_secret_object);
    stored["metadata"]["uid"] = json!("1234-uid");
    let (role, binding) = kubeadm_certs_access();
    assert_eq!(json_of(&binding)["subjects"], json!([{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}]));
    let steps = vec![
        step("GET", format!("{SECRETS}/bootstrap-token-uvwxyz"), None, 404, status(404, "NotFound")),
        post(SECRETS, json_of(&token_secret_object)),
        step("GET", format!("{SECRETS}/bootstrap-token-uvwxyz"), None, 200, Some(stored)),
        Step { check: Some(check_kubeadm_certs), ..step("POST", format!("{SECRETS}?"), None, 201, None) },
        post(ROLES, json_of(&role)),
        post(BINDINGS, json_of(&binding)),
    ];
    let lines =
        scenario(steps, |c| async move { upload_certs(&c, &cfg, &root, KEY_HEX, "uvwxyz.0123456789abcdef", now()).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace",
            "[upload-certs] Using certificate key:",
            KEY_HEX
        ]
    );
}

/// The kubeadm-certs Secret upload_certs sends: owned by the token, every file kubeadm moves,
/// `ca.crt` decrypting to the file, absent files empty.
fn check_kubeadm_certs(body: &Value) {
    assert_eq!(body["metadata"]["name"], "kubeadm-certs");
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "1234-uid");
    assert_eq!(body["metadata"]["ownerReferences"][0]["name"], "bootstrap-token-uvwxyz");
    let data = body["data"].as_object().unwrap();
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(keys, ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]);
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let sealed = crate::kubeadm::certs::pki::base64_decode(data["ca.crt"].as_str().unwrap()).unwrap();
    assert_eq!(decrypt(&sealed, &key, "ca.crt").unwrap(), b"CA CERT");
    assert!(data.iter().filter(|(k, _)| *k != "ca.crt").all(|(_, v)| v == ""), "absent files are empty values");
}

#[test]
fn kubeadm_certs_secret_is_owned_by_the_token_secret() {
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let mut owner = token_secret(&cert_token("uvwxyz.0123456789abcdef"), now()).unwrap();
    owner.metadata.uid = Some("1234-uid".into());
    let data =
        std::collections::BTreeMap::from([("ca.crt".to_owned(), encrypt(b"CA", &key, "ca.crt").unwrap()), ("ca.key".to_owned(), vec![])]);
    let secret = json_of(&kubeadm_certs_secret(data, &owner));
    assert_eq!(
        secret["metadata"],
        json!({"name": "kubeadm-certs", "namespace": "kube-system", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Secret", "name": "bootstrap-token-uvwxyz", "uid": "1234-uid", "controller": true, "blockOwnerDeletion": true}]})
    );
    assert_eq!(secret["data"]["ca.key"], "");
    let sealed = crate::kubeadm::certs::pki::base64_decode(secret["data"]["ca.crt"].as_str().unwrap()).unwrap();
    assert_eq!(decrypt(&sealed, &key, "ca.crt").unwrap(), b"CA");
}

#[tokio::test]
async fn upload_certs_refuses_an_existing_token() {
    let cfg = config_with(InitFlags::default(), None);
    let root = crate::kubeadm::files::Root::new("/nonexistent");
    let steps = vec![step(
        "GET",
        format!("{SECRETS}/bootstrap-token-uvwxyz"),
        None,
        200,
        Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap-token-uvwxyz"}})),
    )];
    let err = scenario(steps, |c| async move { upload_certs(&c, &cfg, &root, KEY_HEX, "uvwxyz.0123456789abcdef", now()).await })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "a token with id \"uvwxyz\" already exists");
}

// ---- mark-control-plane ----------------------------------------------------------------------

fn taint(key: &str, value: Option<&str>, effect: &str) -> bundle::kubeadm::Taint {
    bundle::kubeadm::Taint { key: key.into(), value: value.map(Into::into), effect: effect.into(), time_added: None }
}

#[tokio::test]
async fn mark_control_plane_patches_labels_and_taints_keeping_existing_ones() {
    let taints = [taint("node-role.kubernetes.io/control-plane", None, "NoSchedule")];
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}});
    let patch = json!({
        "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
        "spec": {"taints": [
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}});
    let steps = vec![
        step("GET", "/api/v1/nodes/node-1", None, 200, Some(node.clone())),
        step("PATCH", "/api/v1/nodes/node-1?", Some(patch), 200, Some(node)),
    ];
    let lines = scenario(steps, |c| async move { mark_control_plane(&c, "node-1", &taints).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[mark-control-plane] Marking the node node-1 as control-plane by adding the labels: [node-role.kubernetes.io/control-plane node.kubernetes.io/exclude-from-external-load-balancers]",
            "[mark-control-plane] Marking the node node-1 as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]",
        ]
    );
}

#[tokio::test]
async fn mark_control_plane_sends_an_empty_patch_when_already_marked_and_names_a_missing_node() {
    let node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}}});
    let steps = vec![
        step("GET", "/api/v1/nodes/n", None, 200, Some(node.clone())),
        step("PATCH", "/api/v1/nodes/n?", Some(json!({})), 200, Some(node)),
    ];
    let lines = scenario(steps, |c| async move { mark_control_plane(&c, "n", &[]).await }).await.unwrap();
    assert_eq!(lines.len(), 1, "no taints line without taints");
    let steps = vec![step("GET", "/api/v1/nodes/n", None, 404, status(404, "NotFound"))];
    let err = scenario(steps, |c| async move { mark_control_plane(&c, "n", &[]).await }).await.unwrap_err();
    assert_eq!(err.to_string(), "unable to get Node \"n\"");
}

#[test]
fn taint_strings_are_gos_taint_to_string() {
    assert_eq!(taint_string(&taint("k", None, "NoSchedule")), "k:NoSchedule");
    assert_eq!(taint_string(&taint("k", Some("v"), "NoExecute")), "k=v:NoExecute");
    assert_eq!(taint_string(&taint("k", Some("v"), "")), "k=v:");
    assert_eq!(taint_string(&taint("k", None, "")), "k");
}

// ---- kubelet-finalize, join ------------------------------------------------------------------

#[test]
fn enable_client_cert_rotation_points_kubelet_conf_at_the_rotated_pem() {
    let cfg = config_with(InitFlags::default(), None);
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    let kubelet_conf = ADMIN_CONF.replace("kubernetes-admin", "system:node:node-1");
    root.write(KUBELET_CONF, kubelet_conf.as_bytes(), 0o600).unwrap();
    assert_eq!(enable_client_cert_rotation(&cfg, &root).unwrap(), Vec::<String>::new(), "no pem yet: nothing to do");
    root.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"PEM", 0o600).unwrap();
    assert_eq!(
        enable_client_cert_rotation(&cfg, &root).unwrap(),
        ["[kubelet-finalize] Updating \"/etc/kubernetes/kubelet.conf\" to point to a rotatable kubelet client certificate and key"]
    );
    let written = String::from_utf8(root.read(KUBELET_CONF).unwrap().unwrap()).unwrap();
    let expected = kubelet_conf.replace(
        "    client-certificate-data: Q0VSVAo=\n    client-key-data: S0VZCg==\n",
        "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
    );
    assert_eq!(written, expected);
    assert!(rotatable_kubeconfig("kind: Config\n", "/p").is_err(), "no current-context");
}

const TEST_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDRDCCAiygAwIBAgIJAJgVaCXvC6HkMA0GCSqGSIb3DQEBBQUAMB8xHTAbBgNV
BAMTFGt1YmVhZG0ta2V5cGlucy10ZXN0MCAXDTE3MDcwNTE3NDMxMFoYDzIxMTcw
NjExMTc0MzEwWjAfMR0wGwYDVQQDExRrdWJlYWRtLWtleXBpbnMtdGVzdDCCASIw
DQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAK0ba8mHU9UtYlzM1Own2Fk/XGjR
J4uJQvSeGLtz1hID1IA0dLwruvgLCPadXEOw/f/IWIWcmT+ZmvIHZKa/woq2iHi5
+HLhXs7aG4tjKGLYhag1hLjBI7icqV7ovkjdGAt9pWkxEzhIYClFMXDjKpMSynu+
YX6nZ9tic1cOkHmx2yiZdMkuriRQnpTOa7bb03OC1VfGl7gHlOAIYaj4539WCOr8
+ACTUMJUFEHcRZ2o8a/v6F9GMK+7SC8SJUI+GuroXqlMAdhEv4lX5Co52enYaClN
+D9FJLRpBv2YfiCQdJRaiTvCBSxEFz6BN+PtP5l2Hs703ZWEkOqCByM6HV8CAwEA
AaOBgDB+MB0GA1UdDgQWBBRQgUX8MhK2rWBWQiPHWcKzoWDH5DBPBgNVHSMESDBG
gBRQgUX8MhK2rWBWQiPHWcKzoWDH5KEjpCEwHzEdMBsGA1UEAxMUa3ViZWFkbS1r
ZXlwaW5zLXRlc3SCCQCYFWgl7wuh5DAMBgNVHRMEBTADAQH/MA0GCSqGSIb3DQEB
BQUAA4IBAQCaAUif7Pfx3X0F08cxhx8/Hdx4jcJw6MCq6iq6rsXM32ge43t8OHKC
pJW08dk58a3O1YQSMMvD6GJDAiAfXzfwcwY6j258b1ZlI9Ag0VokvhMl/XfdCsdh
AWImnL1t4hvU5jLaImUUMlYxMcSfHBGAm7WJIZ2LdEfg6YWfZh+WGbg1W7uxLxk6
y4h5rWdNnzBHWAGf7zJ0oEDV6W6RSwNXtC0JNnLaeIUm/6xdSddJlQPwUv8YH4jX
c1vuFqTnJBPcb7W//R/GI2Paicm1cmns9NLnPR35exHxFTy+D1yxmGokpoPMdife
aH+sfuxT8xeTPb3kjzF9eJTlnEquUDLM
-----END CERTIFICATE-----
";

#[test]
fn ca_cert_hash_matches_pubkeypin_test_vector() {
    assert_eq!(ca_cert_hash(TEST_CERT_PEM.as_bytes()).unwrap(), "sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3");
    assert!(ca_cert_hash(b"not a pem").is_err());
}

#[test]
fn join_commands_are_kubeadms_template() {
    let hashes = ["sha256:abc".to_owned()];
    let worker = join_command("https://10.0.0.5:6443", "abcdef.0123456789abcdef", &hashes, JoinAs::Worker);
    assert_eq!(worker, "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef \\\n    --discovery-token-ca-cert-hash sha256:abc ");
    let control_plane = join_command("https://10.0.0.5:6443", "abcdef.0123456789abcdef", &hashes, JoinAs::ControlPlane(Some("k3y")));
    assert_eq!(control_plane, format!("{worker}\\\n    --control-plane --certificate-key k3y"));
    let no_upload = join_command("https://10.0.0.5:6443", "abcdef.0123456789abcdef", &hashes, JoinAs::ControlPlane(None));
    assert_eq!(no_upload, format!("{worker}\\\n    --control-plane "));
}
