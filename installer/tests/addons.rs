//! The `addon` phase. Golden files: each case under `testdata/addons/<case>/` is a kubeadm config
//! file (`case.yaml`; its `# version:` and `# advertise:` comments give the bundle's version and
//! the node's address) rendered into `expected/coredns.yaml` and `expected/kube-proxy.yaml`
//! (kubeadm's YAML, one document per object, in creation order) and compared byte for byte;
//! every golden object must pass `kubernetes-validate --strict` for its Kubernetes version.
//! `AIRADM_BLESS=1` rewrites the golden files (review the diff against KUBEADM.md §5.5/§5.6).
//!
//! API: the appliers run against a tower-test mock API server that asserts each request's
//! method, path, query and body (the golden objects) and answers as kube-apiserver would.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use installer::kubeadm::addons::{self, AddonError};
use installer::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags};
use installer::kubeadm::yaml::to_yaml;
use installer::kubeadm::{InitConfig, Version};
use kube::client::Body;
use serde_json::{Value, json};

const CASES: &[&str] =
    &["defaults-v1.31", "defaults-v1.34", "dual-stack-v1.33", "custom-domain-v1.32", "ipvs-v1.35", "nftables-v1.36", "ipv6-v1.37"];

struct Case {
    dir: PathBuf,
    version: Version,
    config: InitConfig,
}

impl Case {
    fn load(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/addons").join(name);
        let yaml = fs_err::read_to_string(dir.join("case.yaml")).unwrap();
        let comment = |key: &str| yaml.lines().find_map(|l| l.strip_prefix(&format!("# {key}: "))).unwrap().to_owned();
        let version = Version::parse(&comment("version")).unwrap();
        let host = HostFacts { hostname: "node".into(), default_address: Some(comment("advertise").parse().unwrap()), cri_socket: None };
        let images = ComponentImages {
            proxy: format!("registry.k8s.io/kube-proxy:{version}"),
            coredns: "registry.k8s.io/coredns/coredns:v1.12.0".into(),
            ..Default::default()
        };
        let docs = config::parse_documents(&yaml, "case.yaml").unwrap();
        let config = config::resolve(docs, &InitFlags::default(), &host, &version, images).unwrap();
        Self { dir, version, config }
    }

    /// (file name, YAML) of each addon.
    fn render(&self) -> Vec<(&'static str, String)> {
        vec![
            ("coredns.yaml", documents(&addons::coredns_objects(&self.config).unwrap())),
            ("kube-proxy.yaml", documents(&addons::kube_proxy_objects(&self.config).unwrap())),
        ]
    }

    /// The objects of a golden file.
    fn golden(&self, file: &str) -> Vec<Value> {
        let text = fs_err::read_to_string(self.dir.join("expected").join(file)).unwrap();
        text.split("---\n").map(|doc| serde_saphyr::from_str(doc).unwrap()).collect()
    }
}

fn documents(objects: &[Value]) -> String {
    objects.iter().map(to_yaml).collect::<Vec<_>>().join("---\n")
}

fn bless() -> bool {
    std::env::var_os("AIRADM_BLESS").is_some_and(|v| v == "1")
}

#[test]
fn objects_match_golden_files() {
    let mut failures = Vec::new();
    for name in CASES {
        let case = Case::load(name);
        let expected_dir = case.dir.join("expected");
        for (file, text) in case.render() {
            if bless() {
                fs_err::create_dir_all(&expected_dir).unwrap();
                fs_err::write(expected_dir.join(file), &text).unwrap();
                continue;
            }
            let expected = fs_err::read_to_string(expected_dir.join(file)).unwrap();
            if expected != text {
                failures.push(format!(
                    "{name}/{file} differs (AIRADM_BLESS=1 to rewrite):\n{}",
                    testkit::golden::first_difference(&expected, &text)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// kubernetes-validate (PyPI) carries the OpenAPI schemas of 1.25–1.37 offline.
#[test]
fn golden_objects_pass_strict_openapi_validation() {
    for name in CASES {
        let case = Case::load(name);
        let schema = format!("{}.{}.0", case.version.major, case.version.minor);
        for file in ["coredns.yaml", "kube-proxy.yaml"] {
            let path = case.dir.join("expected").join(file);
            let stdout = testkit::golden::kubernetes_validate(&schema, &[&path]);
            assert_eq!(stdout.matches(" passed for resource ").count(), 6, "{name}/{file}:\n{stdout}");
        }
    }
}

/// The Corefile and the kube-proxy kubeconfig as KUBEADM.md §5.5/§5.6 quote kubeadm's templates.
#[test]
fn golden_files_carry_kubeadms_template_text() {
    let case = Case::load("custom-domain-v1.32");
    let coredns = case.golden("coredns.yaml");
    assert_eq!(
        coredns[0]["data"]["Corefile"],
        ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    \
         kubernetes corp.internal in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    \
         prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    \
         cache 30 {\n       disable success corp.internal\n       disable denial corp.internal\n    }\n    loop\n    reload\n    loadbalance\n}\n"
    );
    assert_eq!(coredns[5]["spec"]["clusterIP"], "10.100.0.10");
    let proxy = case.golden("kube-proxy.yaml");
    assert_eq!(
        proxy[0]["data"]["kubeconfig.conf"],
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    \
         server: https://10.0.0.99:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  \
         name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
    );
    let config: Value = serde_saphyr::from_str(proxy[0]["data"]["config.conf"].as_str().unwrap()).unwrap();
    assert_eq!(config["clusterCIDR"], "192.168.0.0/16");
    let ipv6 = Case::load("ipv6-v1.37").golden("kube-proxy.yaml");
    let config: Value = serde_saphyr::from_str(ipv6[0]["data"]["config.conf"].as_str().unwrap()).unwrap();
    assert_eq!(config["bindAddress"], "::");
    let nftables = Case::load("nftables-v1.36").golden("kube-proxy.yaml");
    let config: Value = serde_saphyr::from_str(nftables[0]["data"]["config.conf"].as_str().unwrap()).unwrap();
    assert_eq!((config["mode"].as_str(), config["clusterCIDR"].as_str()), (Some("nftables"), Some("10.200.0.0/16")));
}

// ---------------------------------------------------------------------------------------------
// The appliers against a scripted API server.

/// One request the mock expects, and its answer.
struct Exchange {
    method: &'static str,
    /// Path and query, exactly.
    uri: String,
    /// The JSON body the request must carry, if any.
    body: Option<Value>,
    status: u16,
    reply: Value,
}

impl Exchange {
    fn new(method: &'static str, uri: &str, body: Option<Value>, status: u16, reply: Value) -> Self {
        Self { method, uri: uri.to_owned(), body, status, reply }
    }

    /// A successful create: the server echoes the object.
    fn created(uri: &str, object: &Value) -> Self {
        Self::new("POST", uri, Some(object.clone()), 201, object.clone())
    }

    /// A create refused with `reason`/`code`.
    fn refused(uri: &str, object: &Value, reason: &str, code: u16) -> Self {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{} {:?}: {reason}", object["kind"].as_str().unwrap(), object["metadata"]["name"].as_str().unwrap()),
            "reason": reason, "code": code,
        });
        Self::new("POST", uri, Some(object.clone()), code, status)
    }

    fn updated(uri: &str, object: &Value) -> Self {
        Self::new("PUT", uri, Some(object.clone()), 200, object.clone())
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404})
}

/// Runs `apply` against a mock that expects exactly `script`, in order.
async fn run_scripted<T>(script: Vec<Exchange>, apply: impl AsyncFnOnce(kube::Client) -> T) -> T {
    let (service, handle) = tower_test::mock::pair::<http::Request<Body>, http::Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = std::pin::pin!(handle);
        for (i, exchange) in script.into_iter().enumerate() {
            let (request, send) = handle.next_request().await.unwrap_or_else(|| panic!("request {i} never came"));
            let uri = request.uri().path_and_query().unwrap().to_string();
            assert_eq!((request.method().as_str(), uri.as_str()), (exchange.method, exchange.uri.as_str()), "request {i}");
            let bytes = request.into_body().collect_bytes().await.unwrap();
            match &exchange.body {
                Some(expected) => assert_eq!(&serde_json::from_slice::<Value>(&bytes).unwrap(), expected, "body of request {i} ({uri})"),
                None => assert!(bytes.is_empty(), "request {i} ({uri}) has a body"),
            }
            let reply = serde_json::to_vec(&exchange.reply).unwrap();
            send.send_response(http::Response::builder().status(exchange.status).body(Body::from(reply)).unwrap());
        }
    });
    let result = tokio::time::timeout(Duration::from_secs(10), apply(kube::Client::new(service, "default"))).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    result
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/kube-system/deployments";
const LIST_DNS: &str = "/apis/apps/v1/namespaces/kube-system/deployments?&labelSelector=k8s-app%3Dkube-dns";
const CONFIGMAPS: &str = "/api/v1/namespaces/kube-system/configmaps";
const SERVICE_ACCOUNTS: &str = "/api/v1/namespaces/kube-system/serviceaccounts";
const CLUSTER_ROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";
const CLUSTER_ROLE_BINDINGS: &str = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
const SERVICES: &str = "/api/v1/namespaces/kube-system/services";

fn deployment_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items})
}

fn post(collection: &str) -> String {
    format!("{collection}?")
}

/// The requests of CoreDNS on a cluster that has none: list, get, then one create per object
/// (ConfigMap, ClusterRole, ClusterRoleBinding, ServiceAccount, Deployment, Service).
fn fresh_coredns(objects: Vec<Value>) -> Vec<Exchange> {
    let [config_map, role, binding, account, deployment, service] = <[Value; 6]>::try_from(objects).unwrap();
    vec![
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![])),
        Exchange::new("GET", &format!("{CONFIGMAPS}/coredns"), None, 404, not_found()),
        Exchange::created(&post(CONFIGMAPS), &config_map),
        Exchange::created(&post(CLUSTER_ROLES), &role),
        Exchange::created(&post(CLUSTER_ROLE_BINDINGS), &binding),
        Exchange::created(&post(SERVICE_ACCOUNTS), &account),
        Exchange::created(&post(DEPLOYMENTS), &deployment),
        Exchange::created(&post(SERVICES), &service),
    ]
}

#[tokio::test]
async fn coredns_is_created_on_a_fresh_cluster() {
    let case = Case::load("defaults-v1.34");
    let script = fresh_coredns(case.golden("coredns.yaml"));
    let lines = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap()).await;
    assert_eq!(lines, ["[addons] Applied essential addon: CoreDNS"]);
}

#[tokio::test]
async fn corednsdeployment_patches_change_the_deployment() {
    let mut case = Case::load("defaults-v1.34");
    let patches = tempfile::tempdir().unwrap();
    fs_err::write(patches.path().join("corednsdeployment+merge.yaml"), "spec:\n  replicas: 1\n").unwrap();
    fs_err::write(
        patches.path().join("corednsdeployment1.yaml"),
        "spec:\n  template:\n    spec:\n      containers:\n      - name: coredns\n        imagePullPolicy: Never\n",
    )
    .unwrap();
    fs_err::write(patches.path().join("kube-apiserver.yaml"), "metadata:\n  labels:\n    a: b\n").unwrap();
    case.config.patches_dir = Some(patches.path().display().to_string());
    let mut objects = case.golden("coredns.yaml");
    objects[4]["spec"]["replicas"] = json!(1);
    objects[4]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    let script = fresh_coredns(objects);
    let lines = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap()).await;
    assert_eq!(
        lines,
        [
            r#"[patches] Applied patch of type "application/merge-patch+json" to target "corednsdeployment""#,
            r#"[patches] Applied patch of type "application/strategic-merge-patch+json" to target "corednsdeployment""#,
            "[addons] Applied essential addon: CoreDNS",
        ]
    );
}

#[tokio::test]
async fn a_bad_corednsdeployment_patch_fails_before_any_write() {
    let mut case = Case::load("defaults-v1.31");
    let patches = tempfile::tempdir().unwrap();
    fs_err::write(patches.path().join("corednsdeployment+json.yaml"), "- op: remove\n  path: /spec/nope\n").unwrap();
    case.config.patches_dir = Some(patches.path().display().to_string());
    let script = vec![Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![]))];
    let err = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap_err()).await;
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("CoreDNS Deployment") && chain.contains("corednsdeployment+json.yaml"), "{chain}");
}

#[tokio::test]
async fn existing_coredns_objects_are_updated_keeping_the_replicas() {
    let case = Case::load("defaults-v1.31");
    let [config_map, role, binding, account, mut deployment, service] = <[Value; 6]>::try_from(case.golden("coredns.yaml")).unwrap();
    let mut existing = deployment.clone();
    existing["spec"]["replicas"] = json!(3);
    deployment["spec"]["replicas"] = json!(3);
    let script = vec![
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![existing.clone()])),
        // kubeadm's own Corefile: it is updated to this version's.
        Exchange::new("GET", &format!("{CONFIGMAPS}/coredns"), None, 200, config_map.clone()),
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![existing])),
        Exchange::refused(&post(CONFIGMAPS), &config_map, "AlreadyExists", 409),
        Exchange::updated(&format!("{CONFIGMAPS}/coredns?"), &config_map),
        Exchange::refused(&post(CLUSTER_ROLES), &role, "AlreadyExists", 409),
        Exchange::updated(&format!("{CLUSTER_ROLES}/system:coredns?"), &role),
        Exchange::created(&post(CLUSTER_ROLE_BINDINGS), &binding),
        Exchange::created(&post(SERVICE_ACCOUNTS), &account),
        Exchange::refused(&post(DEPLOYMENTS), &deployment, "AlreadyExists", 409),
        Exchange::updated(&format!("{DEPLOYMENTS}/coredns?"), &deployment),
        // "provided IP is already allocated": kubeadm updates the Service too.
        Exchange::refused(&post(SERVICES), &service, "Invalid", 422),
        Exchange::updated(&format!("{SERVICES}/kube-dns?"), &service),
    ];
    let lines = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap()).await;
    assert_eq!(lines, ["[addons] Applied essential addon: CoreDNS"]);
}

#[tokio::test]
async fn a_modified_corefile_is_retained() {
    let case = Case::load("defaults-v1.34");
    let [config_map, role, binding, account, deployment, service] = <[Value; 6]>::try_from(case.golden("coredns.yaml")).unwrap();
    let mut modified = config_map.clone();
    modified["data"]["Corefile"] = json!(".:53 {\n    forward . 192.0.2.53\n}\n");
    let script = vec![
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![])),
        Exchange::new("GET", &format!("{CONFIGMAPS}/coredns"), None, 200, modified.clone()),
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![])),
        // CreateOrRetainConfigMap: it exists, nothing is written.
        Exchange::new("GET", &format!("{CONFIGMAPS}/coredns"), None, 200, modified),
        Exchange::created(&post(CLUSTER_ROLES), &role),
        Exchange::created(&post(CLUSTER_ROLE_BINDINGS), &binding),
        Exchange::created(&post(SERVICE_ACCOUNTS), &account),
        Exchange::created(&post(DEPLOYMENTS), &deployment),
        Exchange::created(&post(SERVICES), &service),
    ];
    run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap()).await;
}

#[tokio::test]
async fn a_refused_coredns_object_is_named_in_the_error() {
    let case = Case::load("defaults-v1.34");
    let [config_map, role, ..] = <[Value; 6]>::try_from(case.golden("coredns.yaml")).unwrap();
    let script = vec![
        Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![])),
        Exchange::new("GET", &format!("{CONFIGMAPS}/coredns"), None, 404, not_found()),
        Exchange::created(&post(CONFIGMAPS), &config_map),
        Exchange::refused(&post(CLUSTER_ROLES), &role, "Forbidden", 403),
    ];
    let err = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap_err()).await;
    assert!(matches!(&err, AddonError::Api { verb: "create", .. }), "{err:?}");
    assert_eq!(err.to_string(), "unable to create ClusterRole system:coredns");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("Forbidden"), "{cause}");
}

#[tokio::test]
async fn two_dns_deployments_stop_the_addon() {
    let case = Case::load("defaults-v1.34");
    let named = |name: &str| json!({"metadata": {"name": name}, "spec": {"selector": {}, "template": {}}});
    let script = vec![Exchange::new("GET", LIST_DNS, None, 200, deployment_list(vec![named("coredns"), named("kube-dns")]))];
    let err = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap_err()).await;
    assert_eq!(err.to_string(), r#"multiple DNS addon deployments found: ["coredns", "kube-dns"]: delete all but one"#);
}

#[tokio::test]
async fn a_failed_listing_is_named_in_the_error() {
    let case = Case::load("defaults-v1.34");
    let failure = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "etcd down", "reason": "InternalError", "code": 500});
    let script = vec![Exchange::new("GET", LIST_DNS, None, 500, failure)];
    let err = run_scripted(script, async |client| addons::apply_coredns(&client, &case.config).await.unwrap_err()).await;
    assert_eq!(err.to_string(), "unable to list the Deployments labelled k8s-app=kube-dns in kube-system");
}

#[tokio::test]
async fn kube_proxy_is_created_and_an_existing_daemonset_updated() {
    let case = Case::load("ipvs-v1.35");
    let [config_map, mut daemon_set, account, binding, role, role_binding] =
        <[Value; 6]>::try_from(case.golden("kube-proxy.yaml")).unwrap();
    // airadm's `*_proxy` variables follow NODE_NAME, sorted by name.
    let host_env = [("https_proxy", "http://proxy:3128"), ("PATH", "/usr/bin"), ("NO_PROXY", "10.0.0.0/8"), ("ftp_proxy", "")];
    let host_env: Vec<(String, String)> = host_env.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
    let env = &mut daemon_set["spec"]["template"]["spec"]["containers"][0]["env"];
    env.as_array_mut()
        .unwrap()
        .extend([json!({"name": "NO_PROXY", "value": "10.0.0.0/8"}), json!({"name": "https_proxy", "value": "http://proxy:3128"})]);
    let script = vec![
        Exchange::created(&post(CONFIGMAPS), &config_map),
        Exchange::refused(&post("/apis/apps/v1/namespaces/kube-system/daemonsets"), &daemon_set, "AlreadyExists", 409),
        Exchange::updated("/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy?", &daemon_set),
        Exchange::created(&post(SERVICE_ACCOUNTS), &account),
        Exchange::created(&post(CLUSTER_ROLE_BINDINGS), &binding),
        Exchange::created(&post("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/roles"), &role),
        Exchange::created(&post("/apis/rbac.authorization.k8s.io/v1/namespaces/kube-system/rolebindings"), &role_binding),
    ];
    let lines = run_scripted(script, async |client| addons::apply_kube_proxy(&client, &case.config, &host_env).await.unwrap()).await;
    assert_eq!(lines, ["[addons] Applied essential addon: kube-proxy"]);
}

#[tokio::test]
async fn a_failed_kube_proxy_update_is_named_in_the_error() {
    let case = Case::load("defaults-v1.31");
    let [config_map, ..] = <[Value; 6]>::try_from(case.golden("kube-proxy.yaml")).unwrap();
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "boom", "reason": "InternalError", "code": 500});
    let script = vec![
        Exchange::refused(&post(CONFIGMAPS), &config_map, "AlreadyExists", 409),
        Exchange::new("PUT", &format!("{CONFIGMAPS}/kube-proxy?"), Some(config_map), 500, conflict),
    ];
    let err = run_scripted(script, async |client| addons::apply_kube_proxy(&client, &case.config, &[]).await.unwrap_err()).await;
    assert_eq!(err.to_string(), "unable to update ConfigMap kube-system/kube-proxy");
}

#[tokio::test]
async fn disabled_addons_make_no_requests() {
    let yaml = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ndns:\n  disabled: true\nproxy:\n  disabled: true\n";
    let mut case = Case::load("defaults-v1.31");
    let host = HostFacts { hostname: "node".into(), default_address: Some("10.0.0.99".parse().unwrap()), cri_socket: None };
    case.config = config::resolve(
        config::parse_documents(yaml, "x.yaml").unwrap(),
        &InitFlags::default(),
        &host,
        &case.version,
        ComponentImages::default(),
    )
    .unwrap();
    let lines = run_scripted(vec![], async |client| {
        let mut lines = addons::apply_coredns(&client, &case.config).await.unwrap();
        lines.extend(addons::apply_kube_proxy(&client, &case.config, &[]).await.unwrap());
        lines
    })
    .await;
    assert!(lines.is_empty());
}
