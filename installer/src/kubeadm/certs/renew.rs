//! `certs renew` (kubeadm: cmd/kubeadm/app/cmd/certs.go `getRenewSubCommands`,
//! phases/certs/renewal/manager.go `RenewUsingLocalCA`): each leaf certificate, and the client
//! certificate of admin.conf, super-admin.conf, controller-manager.conf and scheduler.conf, is
//! signed again by its CA with the subject, SANs and extended key usages of the one on disk, a
//! new key, NotBefore five minutes ago and NotAfter `certificateValidityPeriod` from now. The CAs
//! are never renewed; without a CA's key (external CA) its certificates are left alone.

use std::time::{Duration, SystemTime};

use rcgen::ExtendedKeyUsagePurpose;
use serde_json::Value;

use super::pki::{self, CertRequest};
use super::{CERTS, CertsError, phase_names};
use crate::kubeadm::config::KeyAlgorithm;
use crate::kubeadm::files::{PRIVATE, PUBLIC, Root};

/// The kubeconfig files whose client certificates are renewed, with kubeadm's long names.
pub(super) const KUBECONFIGS: &[(&str, &str)] = &[
    ("admin.conf", "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself"),
    ("super-admin.conf", "certificate embedded in the kubeconfig file for the super-admin"),
    ("controller-manager.conf", "certificate embedded in the kubeconfig file for the controller manager to use"),
    ("scheduler.conf", "certificate embedded in the kubeconfig file for the scheduler manager to use"),
];

/// What `certs renew` works with.
#[derive(Debug, Clone)]
pub struct RenewConfig {
    /// `certificatesDir` (node path).
    pub cert_dir: String,
    /// With an external etcd, etcd's certificates are not kubeadm's.
    pub external_etcd: bool,
    /// `encryptionAlgorithm` of the new keys.
    pub algorithm: KeyAlgorithm,
    /// `certificateValidityPeriod`.
    pub validity: Duration,
}

/// One certificate kubeadm's renewal manager handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renewable {
    /// `apiserver`, `admin.conf`: the `certs renew` subcommand.
    pub name: &'static str,
    /// kubeadm's long name (`certificate for serving the Kubernetes API`).
    pub long_name: &'static str,
    /// Its CA's file base (`ca`, `etcd/ca`).
    pub ca_base: &'static str,
    /// The certificate's file base under the certificates directory, or the kubeconfig's name.
    pub file: &'static str,
    /// In a kubeconfig file.
    pub kubeconfig: bool,
}

/// Every certificate `certs renew` knows, sorted by name as kubeadm's `Certificates()`.
pub fn renewables(external_etcd: bool) -> Vec<Renewable> {
    let mut out: Vec<Renewable> = CERTS
        .iter()
        .filter(|c| c.ca.is_some() && !(external_etcd && super::create::is_etcd(c)))
        .map(|c| {
            let ca = c.ca.unwrap_or("ca");
            let ca_base = CERTS.iter().find(|s| s.name == ca).map_or(ca, |s| s.base_name);
            let long_name = phase_names().iter().find(|(n, _)| *n == c.name).map_or(c.name, |(_, h)| h.trim_start_matches("Generate the "));
            Renewable { name: c.name, long_name, ca_base, file: c.base_name, kubeconfig: false }
        })
        .chain(KUBECONFIGS.iter().map(|(name, long)| Renewable { name, long_name: long, ca_base: "ca", file: name, kubeconfig: true }))
        .collect();
    out.sort_by_key(|r| r.name);
    out
}

/// What happened to one certificate, as kubeadm's `renewCert` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `… renewed`.
    Renewed,
    /// `MISSING! …`.
    Missing,
    /// `Detected external ca, … can't be renewed`.
    ExternalCa,
}

/// kubeadm's line for `outcome` of `r`.
pub fn line(r: &Renewable, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Renewed => format!("{} renewed", r.long_name),
        Outcome::Missing => format!("MISSING! {}", r.long_name),
        Outcome::ExternalCa => format!("Detected external {}, {} can't be renewed", r.ca_base, r.long_name),
    }
}

/// Renews `r` under `root` at `now`.
pub fn renew(root: &Root, cfg: &RenewConfig, r: &Renewable, now: SystemTime) -> Result<Outcome, CertsError> {
    let dir = cfg.cert_dir.trim_end_matches('/');
    let read = |path: &str| root.read(path).map_err(|source| CertsError::Read { path: path.to_owned(), source });
    let invalid = |path: &str| {
        let path = path.to_owned();
        move |source| CertsError::Invalid { path: path.clone(), source }
    };
    let file = if r.kubeconfig { format!("/etc/kubernetes/{}", r.file) } else { format!("{dir}/{}.crt", r.file) };
    let Some(existing) = read(&file)? else { return Ok(Outcome::Missing) };
    let (ca_crt, ca_key) = (format!("{dir}/{}.crt", r.ca_base), format!("{dir}/{}.key", r.ca_base));
    let Some(ca_key_pem) = read(&ca_key)? else { return Ok(Outcome::ExternalCa) };
    let ca_pem = read(&ca_crt)?.ok_or_else(|| CertsError::Missing { path: ca_crt.clone() })?;
    let ca_der = pki::first_certificate(&ca_pem).map_err(invalid(&ca_crt))?;
    let ca_pair = pki::parse_private_key(&ca_key_pem).map_err(invalid(&ca_key))?;
    let mut kubeconfig: Option<(Value, String)> = None;
    let cert_pem = if r.kubeconfig {
        let (doc, user) = kubeconfig_user(&existing)
            .ok_or_else(|| CertsError::Invalid { path: file.clone(), source: pki::PkiError::NoPem("CERTIFICATE") })?;
        let data = doc["users"]
            .as_array()
            .and_then(|users| users.iter().find(|u| u["name"] == user.as_str()))
            .and_then(|u| u["user"]["client-certificate-data"].as_str())
            .and_then(pki::base64_decode);
        kubeconfig = Some((doc.clone(), user));
        data.ok_or_else(|| CertsError::Invalid { path: file.clone(), source: pki::PkiError::NoPem("CERTIFICATE") })?
    } else {
        existing
    };
    let der = pki::first_certificate(&cert_pem).map_err(invalid(&file))?;
    let request = request_from(&der, now, cfg.validity).map_err(invalid(&file))?;
    let key = pki::generate_key(cfg.algorithm).map_err(invalid(&file))?;
    let new_der = pki::signed_leaf(&request, &key.pair, &ca_der, &ca_pair).map_err(invalid(&file))?;
    let new_pem = pki::pem_encode("CERTIFICATE", &new_der);
    let write = |path: &str, bytes: &[u8], mode| {
        root.write(path, bytes, mode).map_err(|source| CertsError::Write { path: path.to_owned(), source })
    };
    match kubeconfig {
        Some((mut doc, user)) => {
            for entry in doc["users"].as_array_mut().into_iter().flatten().filter(|u| u["name"] == user.as_str()) {
                entry["user"]["client-certificate-data"] = Value::String(pki::base64_encode(new_pem.as_bytes()));
                entry["user"]["client-key-data"] = Value::String(pki::base64_encode(key.pem.as_bytes()));
            }
            let text = crate::kubeadm::yaml::to_yaml(&doc);
            write(&file, text.as_bytes(), PRIVATE)?;
        }
        None => {
            write(&format!("{dir}/{}.key", r.file), key.pem.as_bytes(), PRIVATE)?;
            write(&file, new_pem.as_bytes(), PUBLIC)?;
        }
    }
    Ok(Outcome::Renewed)
}

/// kubeadm's `certToConfig`: CN, O, DNS and IP SANs and extended key usages of `der`; the new
/// validity from `now`.
fn request_from(der: &[u8], now: SystemTime, validity: Duration) -> Result<CertRequest, pki::PkiError> {
    let cert = pki::parse(der)?;
    let first = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>| attrs.first().and_then(|a| a.as_str().ok()).map(str::to_owned);
    let common_name = first(cert.subject().iter_common_name().collect()).unwrap_or_default();
    let organization = first(cert.subject().iter_organization().collect());
    let mut usages = Vec::new();
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if eku.value.server_auth {
            usages.push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if eku.value.client_auth {
            usages.push(ExtendedKeyUsagePurpose::ClientAuth);
        }
    }
    let (dns_names, ips) = pki::alt_names(der)?;
    Ok(CertRequest { common_name, organization, usages, dns_names, ips, not_before: now - pki::BACKDATE, not_after: now + validity })
}

/// A kubeconfig's document and the user of its current context.
fn kubeconfig_user(bytes: &[u8]) -> Option<(Value, String)> {
    let doc: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).ok()?).ok()?;
    let current = doc["current-context"].as_str()?;
    let contexts = doc["contexts"].as_array()?;
    let user = contexts.iter().find(|c| c["name"] == current)?["context"]["user"].as_str()?.to_owned();
    Some((doc, user))
}
