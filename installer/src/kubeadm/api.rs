//! kubeadm's phases that talk to the API server, after `wait-control-plane`: `upload-config`,
//! `upload-certs`, `mark-control-plane`, `bootstrap-token` (with `EnsureAdminClusterRoleBinding`),
//! plus `kubelet-finalize` and the `kubeadm join` lines printed at the end.
//!
//! Each phase is a pure builder of the objects kubeadm sends (k8s-openapi types, byte for byte
//! what kubeadm's request would carry) and a thin async applier with kubeadm's semantics:
//! `apiclient.CreateOrUpdate` creates and, on `AlreadyExists`, replaces (a PUT of the same
//! object). Appliers return the lines kubeadm prints. kubeadm retries each call for up to
//! `timeouts.kubernetesAPICall`; these appliers make each call once and name the object in the
//! error, so the caller decides whether to retry.

use std::fmt::Debug;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod bootstrap_token;
mod join;
mod kubelet_finalize;
mod mark_control_plane;
mod upload_certs;
mod upload_config;

pub use bootstrap_token::*;
pub use join::*;
pub use kubelet_finalize::*;
pub use mark_control_plane::*;
pub use upload_certs::*;
pub use upload_config::*;

/// `metav1.NamespaceSystem`.
pub const KUBE_SYSTEM: &str = "kube-system";
/// `metav1.NamespacePublic`.
pub const KUBE_PUBLIC: &str = "kube-public";
/// `NodeBootstrapTokenAuthGroup`: the group of kubeadm's default bootstrap tokens.
pub const NODE_BOOTSTRAP_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// `NodesGroup`.
pub const NODES_GROUP: &str = "system:nodes";
/// `rbac.GroupName`.
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// An API phase failed; every variant names the object or file.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request about an object failed.
    #[error("unable to {verb} {kind} {name:?}")]
    Request {
        /// `create`, `update`, `get`, `patch`.
        verb: &'static str,
        /// The object's kind.
        kind: String,
        /// `namespace/name`, or the name of a cluster-scoped object.
        name: String,
        /// What the API server (or the transport) said.
        #[source]
        source: Box<kube::Error>,
    },
    /// `UpdateOrCreateTokens(failIfExists: true)` found the token.
    #[error("a token with id {0:?} already exists")]
    TokenExists(String),
    /// A bootstrap token is not `[a-z0-9]{6}.[a-z0-9]{16}` or has a bad ttl/expires.
    #[error("bootstrap token: {0}")]
    Token(String),
    /// `--certificate-key` is not 64 hex characters.
    #[error("error decoding certificate key: it must be 64 hexadecimal characters (32 bytes), as `kubeadm certs certificate-key` prints")]
    CertificateKey,
    /// AES-GCM decryption failed (wrong key or tampered data).
    #[error("failed to decrypt {0:?} with the certificate key")]
    Decrypt(String),
    /// AES-GCM encryption failed (its only refusal: a plaintext past 64 GiB).
    #[error("failed to encrypt `{what}` ({size} bytes) for Secret kubeadm-certs: a certificate or key is a few KiB, check the file")]
    Encrypt {
        /// The node path of the file.
        what: String,
        /// Its size.
        size: usize,
    },
    /// A kubeconfig or certificate file is not what kubeadm wrote.
    #[error("{path}: {reason}")]
    Invalid {
        /// The node path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a node file failed.
    #[error("failed to access `{path}`")]
    Io {
        /// The node path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The name kubeadm's errors use: `namespace/name` or `name`.
fn object_name(meta: &ObjectMeta) -> String {
    match (&meta.namespace, &meta.name) {
        (Some(ns), Some(name)) => format!("{ns}/{name}"),
        (_, name) => name.clone().unwrap_or_default(),
    }
}

fn request_error<K: Resource<DynamicType = ()>>(verb: &'static str, meta: &ObjectMeta, source: kube::Error) -> ApiError {
    ApiError::Request { verb, kind: K::kind(&()).into_owned(), name: object_name(meta), source: Box::new(source) }
}

/// The API server's `reason` (`AlreadyExists`, `Forbidden`, `NotFound`), when it answered with a
/// Status.
fn reason(error: &kube::Error) -> Option<&str> {
    match error {
        kube::Error::Api(status) => Some(status.reason.as_str()),
        _ => None,
    }
}

/// `apiclient.CreateOrUpdate`: POST; on `AlreadyExists`, PUT the same object.
pub async fn create_or_update<K>(api: &Api<K>, object: &K) -> Result<(), ApiError>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let meta = object.meta();
    tracing::debug!(kind = %K::kind(&()), name = %object_name(meta), "create or update");
    match api.create(&PostParams::default(), object).await {
        Ok(_) => Ok(()),
        Err(e) if reason(&e) == Some("AlreadyExists") => {
            let name = meta.name.as_deref().unwrap_or_default();
            api.replace(name, &PostParams::default(), object).await.map(drop).map_err(|e| request_error::<K>("update", meta, e))
        }
        Err(e) => Err(request_error::<K>("create", meta, e)),
    }
}

fn meta(namespace: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(Into::into), ..Default::default() }
}

/// `rbac.Subject{Kind: "Group", Name: name}` (kubeadm leaves `apiGroup` to the server's default).
pub fn group(name: &str) -> Subject {
    Subject { kind: "Group".into(), name: name.into(), ..Default::default() }
}

/// `rbac.Subject{Kind: "User", Name: name}`.
pub fn user(name: &str) -> Subject {
    Subject { kind: "User".into(), name: name.into(), ..Default::default() }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: RBAC_GROUP.into(), kind: kind.into(), name: name.into() }
}

/// A rule granting `get` on one named object of a core resource.
fn get_rule(resource: &str, resource_name: Option<&str>) -> PolicyRule {
    PolicyRule {
        verbs: vec!["get".into()],
        api_groups: Some(vec![String::new()]),
        resources: Some(vec![resource.into()]),
        resource_names: resource_name.map(|n| vec![n.into()]),
        ..Default::default()
    }
}

/// kubeadm's pattern for "let these subjects read that object": a Role granting `get` on one
/// named object, and a RoleBinding of the same name to `subjects`.
pub fn read_access(namespace: &str, name: &str, resource: &str, resource_name: &str, subjects: Vec<Subject>) -> (Role, RoleBinding) {
    let role = Role { metadata: meta(Some(namespace), name), rules: Some(vec![get_rule(resource, Some(resource_name))]) };
    let binding = RoleBinding { metadata: meta(Some(namespace), name), role_ref: role_ref("Role", name), subjects: Some(subjects) };
    (role, binding)
}

/// Creates or updates a Role and its RoleBinding, in that order.
async fn apply_read_access(client: &Client, (role, binding): (Role, RoleBinding)) -> Result<(), ApiError> {
    let namespace = role.metadata.namespace.as_deref().unwrap_or(KUBE_SYSTEM);
    create_or_update(&Api::namespaced(client.clone(), namespace), &role).await?;
    create_or_update(&Api::namespaced(client.clone(), namespace), &binding).await
}

#[cfg(test)]
mod tests;
