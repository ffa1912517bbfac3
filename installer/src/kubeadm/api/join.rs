//! What `kubeadm init` prints at the end for joining: the CA pin
//! (cmd/kubeadm/app/util/pubkeypin/pubkeypin.go) and the join command lines
//! (cmd/kubeadm/app/cmd/util/join.go `joinCommandTemplate`).

use sha2::{Digest as _, Sha256};

use super::ApiError;

/// `pubkeypin.Hash`: `sha256:` + hex of the sha256 of the first certificate's
/// SubjectPublicKeyInfo (DER); `ca_pem` is `ca.crt`.
pub fn ca_cert_hash(ca_pem: &[u8]) -> Result<String, ApiError> {
    let invalid = |reason: String| ApiError::Invalid { path: "ca.crt".into(), reason };
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_pem).map_err(|e| invalid(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| invalid(e.to_string()))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(cert.public_key().raw))))
}

/// What a joining node is told to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinAs<'a> {
    /// A worker.
    Worker,
    /// Another control-plane node; `Some(key)` when `upload-certs` ran.
    ControlPlane(Option<&'a str>),
}

/// `joinCommandTemplate` rendered for `program` (`kubeadm`, `airadm`): `endpoint` is the
/// control-plane URL without `https://`, each hash a [`ca_cert_hash`], `bundle` airadm's
/// `--bundle` after them. Trailing spaces and the tab after each continuation are kubeadm's.
pub fn join_command(program: &str, endpoint: &str, token: &str, ca_hashes: &[String], bundle: Option<&str>, join_as: JoinAs<'_>) -> String {
    let host_port = endpoint.replace("https://", "");
    let mut out = format!("{program} join {host_port} --token {token} \\\n\t");
    for hash in ca_hashes {
        out.push_str(&format!("--discovery-token-ca-cert-hash {hash} "));
    }
    if let Some(bundle) = bundle {
        out.push_str(&format!("--bundle {bundle} "));
    }
    if let JoinAs::ControlPlane(key) = join_as {
        out.push_str("\\\n\t--control-plane ");
        if let Some(key) = key.filter(|k| !k.is_empty()) {
            out.push_str(&format!("--certificate-key {key}"));
        }
    }
    out
}
