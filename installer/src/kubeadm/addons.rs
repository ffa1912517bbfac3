//! The `addon` phase: CoreDNS and kube-proxy. Rendering is pure ([`coredns_objects`],
//! [`kube_proxy_objects`]: kubeadm's templates as JSON objects, version-aware for v1.31–v1.37);
//! applying is a thin layer of kubeadm's create-or-update calls ([`apply_coredns`],
//! [`apply_kube_proxy`]).

mod apply;
mod coredns;
mod proxy;
#[cfg(test)]
mod tests;

pub use apply::{APPLIED_COREDNS, APPLIED_KUBE_PROXY, apply_coredns, apply_kube_proxy};
pub use coredns::{DEFAULT_REPLICAS, coredns_objects, corefile};
pub use proxy::{kube_proxy_configuration, kube_proxy_objects, kube_proxy_objects_with_env};

use crate::kubeadm::config::ConfigError;
use crate::kubeadm::patches::PatchError;

/// Both addons live in `kube-system`.
const KUBE_SYSTEM: &str = "kube-system";

/// Why an addon could not be rendered or applied.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    /// The kube-dns Service IP (tenth address of the first service CIDR) cannot be computed.
    #[error("cannot compute the kube-dns Service IP")]
    DnsIp(#[source] ConfigError),
    /// The user's KubeProxyConfiguration cannot be merged with kubeadm's defaults.
    #[error("KubeProxyConfiguration: {reason}: fix the kube-proxy document of the config file")]
    ProxyConfiguration {
        /// What is wrong.
        reason: String,
    },
    /// The `corednsdeployment` patches could not be read or applied.
    #[error("could not apply patch to the CoreDNS Deployment")]
    Patch(#[source] PatchError),
    /// A rendered object does not fit the dynamic object model (a bug in the renderer).
    #[error("{object}: the rendered object is not a Kubernetes object")]
    Render {
        /// `Kind namespace/name`.
        object: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// An API call failed.
    #[error("unable to {verb} {object}")]
    Api {
        /// `create`, `update`, `get` or `list`.
        verb: &'static str,
        /// `Kind namespace/name` (or the label selector of a list).
        object: String,
        /// The client's error, with the API server's status.
        #[source]
        source: kube::Error,
    },
    /// More than one `k8s-app=kube-dns` Deployment exists.
    #[error("multiple DNS addon deployments found: {names:?}: delete all but one")]
    MultipleDnsDeployments {
        /// Their names.
        names: Vec<String>,
    },
    /// ConfigMap `coredns` exists without a `Corefile` key.
    #[error("{object} has no Corefile data: add it or delete the ConfigMap")]
    NoCorefile {
        /// `ConfigMap kube-system/coredns`.
        object: String,
    },
}
