//! `kubeconfig user` (kubeadm: cmd/kubeadm/app/cmd/kubeconfig.go, phases/kubeconfig
//! `WriteKubeConfigWithClientCert` / `WriteKubeConfigWithToken`): a kubeconfig for another user,
//! with a client certificate signed by the cluster CA (CN = the user, O = the organization),
//! or with a token. Pure: the CA's PEM in, the file's bytes out.

use std::time::SystemTime;

use rcgen::ExtendedKeyUsagePurpose;

use super::{Credentials, KubeconfigError, render, write};
use crate::kubeadm::KeyAlgorithm;
use crate::kubeadm::certs::pki::{self, CertRequest};

/// What the file is for.
#[derive(Debug, Clone)]
pub struct UserRequest<'a> {
    /// `clusterName`.
    pub cluster_name: &'a str,
    /// `GetControlPlaneEndpoint`: the URL of the API server.
    pub server: &'a str,
    /// `--client-name`: the user, and the certificate's CN.
    pub client: &'a str,
    /// `--org`: the certificate's O.
    pub organization: Option<&'a str>,
    /// `--token`: authenticate with it instead of a certificate.
    pub token: Option<&'a str>,
    /// The certificate's NotAfter (start time + `--validity-period`).
    pub not_after: SystemTime,
    /// `encryptionAlgorithm`.
    pub algorithm: KeyAlgorithm,
    /// The minor whose client-go writes the file.
    pub minor: u32,
}

/// The kubeconfig; `ca_key_pem` is needed for a certificate only. `ca_path` names the CA in errors.
pub fn user_kubeconfig(
    req: &UserRequest<'_>,
    ca_pem: &[u8],
    ca_key_pem: Option<&[u8]>,
    ca_path: &str,
    now: SystemTime,
) -> Result<String, KubeconfigError> {
    let bad_ca = |source| KubeconfigError::BadCa { path: ca_path.to_owned(), source };
    let ca_der = pki::first_certificate(ca_pem).map_err(bad_ca)?;
    pki::check_validity(&ca_der, now).map_err(bad_ca)?;
    let rendered = match req.token {
        Some(token) => write(
            req.cluster_name,
            req.server,
            pki::pem_encode("CERTIFICATE", &ca_der).as_bytes(),
            req.client,
            &format!("{}@{}", req.client, req.cluster_name),
            serde_json::json!({ "token": token }),
            req.minor,
        ),
        None => {
            let ca_key_pem = ca_key_pem.ok_or_else(|| KubeconfigError::NoCa { path: ca_path.replace(".crt", ".key") })?;
            let ca_key = pki::parse_private_key(ca_key_pem).map_err(bad_ca)?;
            pki::check_key_matches(&ca_der, &ca_key).map_err(bad_ca)?;
            let generate = |source| KubeconfigError::Generate { client: req.client.to_owned(), source };
            let key = pki::generate_key(req.algorithm).map_err(generate)?;
            let request = CertRequest {
                common_name: req.client.to_owned(),
                organization: req.organization.map(str::to_owned),
                usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
                dns_names: Vec::new(),
                ips: Vec::new(),
                not_before: super::ca_not_before(&ca_der).map_err(generate)?,
                not_after: req.not_after,
            };
            let der = pki::signed_leaf(&request, &key.pair, &ca_der, &ca_key).map_err(generate)?;
            let files =
                Credentials { ca: pki::pem_encode("CERTIFICATE", &ca_der), cert: pki::pem_encode("CERTIFICATE", &der), key: key.pem };
            render(req.cluster_name, req.server, req.client, &files, req.minor)
        }
    };
    rendered.map_err(|source| KubeconfigError::Render { file: "kubeconfig", source })
}
