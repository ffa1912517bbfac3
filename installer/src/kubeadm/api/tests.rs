//! Tests of the API phases: pure builders against kubeadm's vectors, appliers against a
//! tower-test mock API server that asserts each request kubeadm's behaviour implies.

use std::future::Future;
use std::time::{Duration, SystemTime};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

mod bootstrap_token;
mod join;
mod kubelet_finalize;
mod mark_control_plane;
mod upload_certs;
mod upload_config;

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

/// An admin.conf as kubeadm writes it (bootstrap-token reads cluster-info from it, kubelet-finalize
/// rewrites it as kubelet.conf).
const ADMIN_CONF: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0EK\n    server: https://10.0.0.5:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: kubernetes-admin\n  name: kubernetes-admin@kubernetes\ncurrent-context: kubernetes-admin@kubernetes\nkind: Config\npreferences: {}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: Q0VSVAo=\n    client-key-data: S0VZCg==\n";
