//! `certs` phase of `init`: kubeadm's certificate authorities, serving and client certificates
//! and the service-account key pair, under `certificatesDir` with kubeadm's names, fields and
//! modes (kubeadm v1.31+: cmd/kubeadm/app/cmd/phases/init/certs.go,
//! cmd/kubeadm/app/phases/certs/{certlist.go,certs.go}). Files already there are reused when
//! they check out, as kubeadm does; a CA certificate without its key is kubeadm's external-CA mode.

mod cert_list;
mod create;
pub mod expiration;
pub mod pki;
pub mod renew;
pub mod sans;
#[cfg(test)]
pub(crate) mod tests;

pub use cert_list::{CERTS, CertSpec, CommonName, Organization, SA, Sans, Usage, phase_names, request_for};
pub use create::{PregeneratedKeys, run, run_one, start, using_external_ca};

use self::pki::PkiError;
use super::config::ConfigError;

/// Why the `certs` phase failed.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// Not a sub-phase of `certs`.
    #[error(
        "`{0}` is not a certs phase: use all, ca, apiserver, apiserver-kubelet-client, front-proxy-ca, front-proxy-client, etcd-ca, etcd-server, etcd-peer, etcd-healthcheck-client, apiserver-etcd-client or sa"
    )]
    UnknownPhase(String),
    /// A file could not be read.
    #[error("failed to read `{path}`")]
    Read {
        /// The node path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("failed to write `{path}`")]
    Write {
        /// The node path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that must exist does not.
    #[error("`{path}` does not exist")]
    Missing {
        /// The node path.
        path: String,
    },
    /// An existing file does not check out.
    #[error("`{path}` exists but cannot be used: replace or remove it")]
    Invalid {
        /// The node path.
        path: String,
        /// What is wrong.
        #[source]
        source: PkiError,
    },
    /// A CA file is not a CA certificate.
    #[error("`{path}` is not a CA certificate (no CA:TRUE): put the CA's certificate there or remove it")]
    NotCa {
        /// The node path.
        path: String,
    },
    /// A key without its certificate.
    #[error("`{key}` exists but `{cert}` does not: restore the certificate, or remove the key to generate both")]
    OrphanKey {
        /// The key's node path.
        key: String,
        /// The certificate's node path.
        cert: String,
    },
    /// The signing CA is not there yet.
    #[error("couldn't load CA certificate {ca}: `{path}` does not exist: run the `certs/{ca}` phase first")]
    MissingCa {
        /// The CA's phase name.
        ca: &'static str,
        /// Its certificate's node path.
        path: String,
    },
    /// External-CA mode (CA certificate without key) and a leaf is missing or wrong: kubeadm's
    /// `CreateTree` message.
    #[error("could not load expected certificate {leaf:?} or validate the existence of key {ca:?} for it")]
    ExternalCa {
        /// The leaf's phase name.
        leaf: &'static str,
        /// The CA's phase name.
        ca: &'static str,
        /// What is wrong with the leaf.
        #[source]
        source: Box<CertsError>,
    },
    /// Generating a key or certificate failed.
    #[error("failed to generate the {name} certificate or key")]
    Generate {
        /// Phase name.
        name: &'static str,
        /// Cause.
        #[source]
        source: PkiError,
    },
    /// The configuration gives no usable service CIDR.
    #[error(transparent)]
    Config(#[from] ConfigError),
}
