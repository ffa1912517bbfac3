//! kubeadm's certificate list (cmd/kubeadm/app/phases/certs/certlist.go): one [`CertSpec`] row
//! per certificate in [`CERTS`], the sub-phases' names and help, and the request each row makes
//! under a configuration.

use std::time::SystemTime;

use rcgen::ExtendedKeyUsagePurpose;

use super::CertsError;
use super::pki::{self, CertRequest};
use super::sans::{self, AltNames};
use crate::kubeadm::InitConfig;

/// Who a certificate's CN is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    /// A fixed name.
    Fixed(&'static str),
    /// `nodeRegistration.name` (`setCommonNameToNodeName`).
    NodeName,
}

/// The certificate's Organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Organization {
    /// None.
    None,
    /// `kubeadm:cluster-admins` (v1.29+; `system:masters` before).
    ClusterAdmins,
}

/// Extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `ServerAuth`.
    Server,
    /// `ClientAuth`.
    Client,
}

/// Which SAN rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sans {
    /// No SANs (clients); CAs carry their CN.
    None,
    /// `GetAPIServerAltNames`.
    ApiServer,
    /// `GetEtcdAltNames`.
    EtcdServer,
    /// `GetEtcdPeerAltNames`.
    EtcdPeer,
}

/// One row of kubeadm's `certlist.go`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    /// Phase name (`etcd-server`).
    pub name: &'static str,
    /// File base under `certificatesDir` (`etcd/server` → `etcd/server.crt`, `etcd/server.key`).
    pub base_name: &'static str,
    /// The signing CA's phase name; `None` for a CA.
    pub ca: Option<&'static str>,
    /// Subject CN.
    pub common_name: CommonName,
    /// Subject O.
    pub organization: Organization,
    /// ExtKeyUsage.
    pub usages: &'static [Usage],
    /// SAN rule.
    pub sans: Sans,
}

const fn cert(
    name: &'static str,
    base_name: &'static str,
    ca: Option<&'static str>,
    common_name: CommonName,
    usages: &'static [Usage],
    sans: Sans,
) -> CertSpec {
    CertSpec { name, base_name, ca, common_name, organization: Organization::None, usages, sans }
}

/// `GetDefaultCertList()`, in its order (each CA before the certificates it signs).
pub const CERTS: &[CertSpec] = &[
    cert("ca", "ca", None, CommonName::Fixed("kubernetes"), &[], Sans::None),
    cert("apiserver", "apiserver", Some("ca"), CommonName::Fixed("kube-apiserver"), &[Usage::Server], Sans::ApiServer),
    CertSpec {
        organization: Organization::ClusterAdmins,
        ..cert(
            "apiserver-kubelet-client",
            "apiserver-kubelet-client",
            Some("ca"),
            CommonName::Fixed("kube-apiserver-kubelet-client"),
            &[Usage::Client],
            Sans::None,
        )
    },
    cert("front-proxy-ca", "front-proxy-ca", None, CommonName::Fixed("front-proxy-ca"), &[], Sans::None),
    cert(
        "front-proxy-client",
        "front-proxy-client",
        Some("front-proxy-ca"),
        CommonName::Fixed("front-proxy-client"),
        &[Usage::Client],
        Sans::None,
    ),
    cert("etcd-ca", "etcd/ca", None, CommonName::Fixed("etcd-ca"), &[], Sans::None),
    cert("etcd-server", "etcd/server", Some("etcd-ca"), CommonName::NodeName, &[Usage::Server, Usage::Client], Sans::EtcdServer),
    cert("etcd-peer", "etcd/peer", Some("etcd-ca"), CommonName::NodeName, &[Usage::Server, Usage::Client], Sans::EtcdPeer),
    cert(
        "etcd-healthcheck-client",
        "etcd/healthcheck-client",
        Some("etcd-ca"),
        CommonName::Fixed("kube-etcd-healthcheck-client"),
        &[Usage::Client],
        Sans::None,
    ),
    cert(
        "apiserver-etcd-client",
        "apiserver-etcd-client",
        Some("etcd-ca"),
        CommonName::Fixed("kube-apiserver-etcd-client"),
        &[Usage::Client],
        Sans::None,
    ),
];

/// The `sa` sub-phase's name.
pub const SA: &str = "sa";

/// The sub-phases of `certs` in kubeadm's order, with the one-line help kubeadm shows for them
/// (`"Generate the " + LongName` from `certlist.go`; `all` is left to the phase runner).
pub fn phase_names() -> &'static [(&'static str, &'static str)] {
    &[
        ("ca", "Generate the self-signed Kubernetes CA to provision identities for other Kubernetes components"),
        ("apiserver", "Generate the certificate for serving the Kubernetes API"),
        ("apiserver-kubelet-client", "Generate the certificate for the API server to connect to kubelet"),
        ("front-proxy-ca", "Generate the self-signed CA to provision identities for front proxy"),
        ("front-proxy-client", "Generate the certificate for the front proxy client"),
        ("etcd-ca", "Generate the self-signed CA to provision identities for etcd"),
        ("etcd-server", "Generate the certificate for serving etcd"),
        ("etcd-peer", "Generate the certificate for etcd nodes to communicate with each other"),
        ("etcd-healthcheck-client", "Generate the certificate for liveness probes to healthcheck etcd"),
        ("apiserver-etcd-client", "Generate the certificate the apiserver uses to access etcd"),
        (SA, "Generate a private key for signing service account tokens along with its public key"),
    ]
}

/// What a certificate asks for under `cfg`, with the warnings for SANs left out.
pub fn request_for(cfg: &InitConfig, spec: &CertSpec, now: SystemTime) -> Result<(CertRequest, Vec<String>), CertsError> {
    let (names, warnings) = match spec.sans {
        Sans::None => (AltNames::default(), Vec::new()),
        Sans::ApiServer => sans::api_server(cfg)?,
        Sans::EtcdServer => sans::etcd(cfg, true),
        Sans::EtcdPeer => sans::etcd(cfg, false),
    };
    let organization = match spec.organization {
        Organization::None => None,
        // kubeadm v1.29 moved the apiserver's kubelet client out of system:masters, and later
        // releases out of any group (`Version::kubelet_api_admin`).
        Organization::ClusterAdmins if cfg.version.kubelet_api_admin() => None,
        Organization::ClusterAdmins if cfg.version.at_least(29) => Some("kubeadm:cluster-admins".to_owned()),
        Organization::ClusterAdmins => Some("system:masters".to_owned()),
    };
    let validity = if spec.ca.is_none() { cfg.ca_validity } else { cfg.cert_validity };
    let request = CertRequest {
        common_name: match spec.common_name {
            CommonName::Fixed(name) => name.to_owned(),
            CommonName::NodeName => cfg.node_name.clone(),
        },
        organization,
        usages: spec
            .usages
            .iter()
            .map(|u| match u {
                Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
                Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            })
            .collect(),
        dns_names: names.dns_names,
        ips: names.ips,
        not_before: now - pki::BACKDATE,
        not_after: now + validity,
    };
    Ok((request, warnings))
}
