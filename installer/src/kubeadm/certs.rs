//! `certs` phase of `init`: kubeadm's certificate authorities, serving and client certificates
//! and the service-account key pair, under `certificatesDir` with kubeadm's names, fields and
//! modes (kubeadm v1.31+: cmd/kubeadm/app/cmd/phases/init/certs.go,
//! cmd/kubeadm/app/phases/certs/{certlist.go,certs.go}). Files already there are reused when
//! they check out, as kubeadm does; a CA certificate without its key is kubeadm's external-CA mode.

pub mod pki;
pub mod sans;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::time::SystemTime;

use rcgen::ExtendedKeyUsagePurpose;

use self::pki::{CertRequest, Key, PkiError};
use self::sans::AltNames;
use super::InitConfig;
use super::config::ConfigError;
use super::files::{PRIVATE, PUBLIC, Root};

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

/// Runs `which` (`all`, or one sub-phase such as `apiserver`, `etcd-ca`, `sa`) and returns the
/// lines kubeadm prints. `now` stands for kubeadm's start time (NotBefore = now − 5 min).
pub fn run(cfg: &InitConfig, root: &Root, which: &str, now: SystemTime) -> Result<Vec<String>, CertsError> {
    let selected: Vec<&CertSpec> = match which {
        "all" => CERTS.iter().collect(),
        SA => Vec::new(),
        name => vec![CERTS.iter().find(|c| c.name == name).ok_or_else(|| CertsError::UnknownPhase(name.to_owned()))?],
    };
    let mut run = Run { cfg, root, now, out: Vec::new(), keys: HashMap::new() };
    if which == "all" {
        run.out.push(format!("[certs] Using certificateDir folder {:?}", cfg.cert_dir));
    }
    run.pregenerate_keys(&selected, matches!(which, "all" | SA))?;
    for spec in selected {
        match spec.ca {
            None => run.ca(spec)?,
            Some(ca) => run.leaf(spec, spec_of(ca))?,
        }
    }
    if matches!(which, "all" | SA) {
        run.service_account()?;
    }
    Ok(run.out)
}

/// kubeadm's `UsingExternalCA`: `ca.crt` is a CA certificate and `ca.key` is absent.
pub fn using_external_ca(cfg: &InitConfig, root: &Root) -> bool {
    let Ok(Some(pem)) = root.read(cfg.cert_path("ca.crt")) else { return false };
    let is_ca = pki::first_certificate(&pem).and_then(|der| pki::is_ca(&der)).unwrap_or(false);
    is_ca && !root.exists(cfg.cert_path("ca.key"))
}

/// The spec of a phase named in the table.
fn spec_of(name: &str) -> &'static CertSpec {
    // Invariant: `ca` fields name rows of CERTS (checked by a unit test).
    CERTS.iter().find(|c| c.name == name).unwrap_or(&CERTS[0])
}

/// Whether kubeadm skips this certificate: etcd's with an external etcd.
fn external_etcd_skips(cfg: &InitConfig, spec: &CertSpec) -> bool {
    cfg.local_etcd().is_none() && (spec.name == "etcd-ca" || spec.ca == Some("etcd-ca"))
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
        // kubeadm v1.29 moved the apiserver's kubelet client out of system:masters.
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

struct Run<'a> {
    cfg: &'a InitConfig,
    root: &'a Root,
    now: SystemTime,
    out: Vec<String>,
    keys: HashMap<&'static str, Key>,
}

impl Run<'_> {
    fn path(&self, spec: &CertSpec, extension: &str) -> String {
        self.cfg.cert_path(&format!("{}.{extension}", spec.base_name))
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, CertsError> {
        tracing::debug!(path, "reading");
        self.root.read(path).map_err(|source| CertsError::Read { path: path.to_owned(), source })
    }

    fn write(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), CertsError> {
        tracing::debug!(path, mode = format!("{mode:o}"), "writing");
        self.root.write(path, bytes, mode).map_err(|source| CertsError::Write { path: path.to_owned(), source })
    }

    /// Generates, in parallel, the keys of every certificate that will be created (RSA key
    /// generation dominates the phase's time).
    fn pregenerate_keys(&mut self, selected: &[&CertSpec], service_account: bool) -> Result<(), CertsError> {
        let mut names: Vec<&'static str> = selected
            .iter()
            .filter(|s| {
                !external_etcd_skips(self.cfg, s) && !self.root.exists(self.path(s, "crt")) && !self.root.exists(self.path(s, "key"))
            })
            .map(|s| s.name)
            .collect();
        if service_account && !self.root.exists(self.cfg.cert_path("sa.key")) && !using_external_ca(self.cfg, self.root) {
            names.push(SA);
        }
        let keys = pki::generate_keys(self.cfg.encryption_algorithm, names.len())
            .map_err(|source| CertsError::Generate { name: names.first().copied().unwrap_or("ca"), source })?;
        self.keys = names.into_iter().zip(keys).collect();
        Ok(())
    }

    fn take_key(&mut self, name: &'static str) -> Result<Key, CertsError> {
        match self.keys.remove(name) {
            Some(key) => Ok(key),
            None => pki::generate_key(self.cfg.encryption_algorithm).map_err(|source| CertsError::Generate { name, source }),
        }
    }

    /// `runCAPhase`.
    fn ca(&mut self, spec: &'static CertSpec) -> Result<(), CertsError> {
        if external_etcd_skips(self.cfg, spec) {
            self.out.push(format!("[certs] External etcd mode: Skipping {} certificate authority generation", spec.base_name));
            return Ok(());
        }
        let (crt, key) = (self.path(spec, "crt"), self.path(spec, "key"));
        let Some(der) = self.existing_ca(&crt)? else {
            if self.root.exists(&key) {
                return Err(CertsError::OrphanKey { key, cert: crt });
            }
            return self.generate(spec, None);
        };
        match self.read(&key)? {
            Some(pem) => {
                let pair = pki::parse_private_key(&pem).map_err(|source| CertsError::Invalid { path: key.clone(), source })?;
                pki::check_key_matches(&der, &pair).map_err(|source| CertsError::Invalid { path: key, source })?;
                self.out.push(format!("[certs] Using existing {} certificate authority", spec.base_name));
            }
            None => {
                // External CA: every certificate it signs must be there already.
                for leaf in CERTS.iter().filter(|l| l.ca == Some(spec.name) && !external_etcd_skips(self.cfg, l)) {
                    self.check_existing_leaf(leaf, &der).map_err(|source| CertsError::ExternalCa {
                        leaf: leaf.name,
                        ca: spec.name,
                        source: Box::new(source),
                    })?;
                }
                self.out.push(format!("[certs] Using existing {} keyless certificate authority", spec.base_name));
            }
        }
        Ok(())
    }

    /// The CA certificate at `crt`, checked to be a CA within its validity; `None` if absent.
    fn existing_ca(&self, crt: &str) -> Result<Option<Vec<u8>>, CertsError> {
        let Some(pem) = self.read(crt)? else { return Ok(None) };
        let invalid = |source| CertsError::Invalid { path: crt.to_owned(), source };
        let der = pki::first_certificate(&pem).map_err(invalid)?;
        if !pki::is_ca(&der).map_err(invalid)? {
            return Err(CertsError::NotCa { path: crt.to_owned() });
        }
        pki::check_validity(&der, self.now).map_err(invalid)?;
        Ok(Some(der))
    }

    /// `runCertPhase`.
    fn leaf(&mut self, spec: &'static CertSpec, ca: &'static CertSpec) -> Result<(), CertsError> {
        if external_etcd_skips(self.cfg, spec) {
            self.out.push(format!("[certs] External etcd mode: Skipping {} certificate generation", spec.base_name));
            return Ok(());
        }
        let ca_crt = self.path(ca, "crt");
        let ca_der = self.existing_ca(&ca_crt)?.ok_or(CertsError::MissingCa { ca: ca.name, path: ca_crt })?;
        if self.root.exists(self.path(spec, "crt")) {
            self.check_existing_leaf(spec, &ca_der)?;
            self.out.push(format!("[certs] Using existing {} certificate and key on disk", spec.base_name));
            return Ok(());
        }
        let (crt, key) = (self.path(spec, "crt"), self.path(spec, "key"));
        if self.root.exists(&key) {
            return Err(CertsError::OrphanKey { key, cert: crt });
        }
        let ca_key_path = self.path(ca, "key");
        let Some(ca_key_pem) = self.read(&ca_key_path)? else {
            let missing = CertsError::Missing { path: crt };
            return Err(CertsError::ExternalCa { leaf: spec.name, ca: ca.name, source: Box::new(missing) });
        };
        let invalid = |source| CertsError::Invalid { path: ca_key_path.clone(), source };
        let ca_key = pki::parse_private_key(&ca_key_pem).map_err(invalid)?;
        pki::check_key_matches(&ca_der, &ca_key).map_err(invalid)?;
        self.generate(spec, Some((&ca_der, &ca_key)))
    }

    /// kubeadm's `validateSignedCertWithCA` plus `validateCertificateWithConfig`: the key loads and
    /// matches, the certificate is signed by the CA and valid now, and has the SANs asked for.
    fn check_existing_leaf(&self, spec: &CertSpec, ca_der: &[u8]) -> Result<(), CertsError> {
        let (crt, key) = (self.path(spec, "crt"), self.path(spec, "key"));
        let pem = self.read(&crt)?.ok_or_else(|| CertsError::Missing { path: crt.clone() })?;
        let key_pem = self.read(&key)?.ok_or_else(|| CertsError::Missing { path: key.clone() })?;
        let bad_crt = |source| CertsError::Invalid { path: crt.clone(), source };
        let bad_key = |source| CertsError::Invalid { path: key.clone(), source };
        let der = pki::first_certificate(&pem).map_err(bad_crt)?;
        let pair = pki::parse_private_key(&key_pem).map_err(bad_key)?;
        pki::check_key_matches(&der, &pair).map_err(bad_key)?;
        pki::check_signed_by(&der, ca_der, self.now).map_err(bad_crt)?;
        let (request, _) = request_for(self.cfg, spec, self.now)?;
        pki::check_sans(&der, &request.dns_names, &request.ips).map_err(bad_crt)
    }

    /// Creates and writes a certificate and its key (key first, as kubeadm's `WriteCertAndKey`).
    fn generate(&mut self, spec: &'static CertSpec, ca: Option<(&[u8], &rcgen::KeyPair)>) -> Result<(), CertsError> {
        let (request, warnings) = request_for(self.cfg, spec, self.now)?;
        self.out.extend(warnings);
        let key = self.take_key(spec.name)?;
        let der = match ca {
            None => pki::self_signed_ca(&request, &key.pair),
            Some((ca_der, ca_key)) => pki::signed_leaf(&request, &key.pair, ca_der, ca_key),
        }
        .map_err(|source| CertsError::Generate { name: spec.name, source })?;
        self.out.push(format!("[certs] Generating {:?} certificate and key", spec.base_name));
        self.write(&self.path(spec, "key"), key.pem.as_bytes(), PRIVATE)?;
        self.write(&self.path(spec, "crt"), pki::pem_encode("CERTIFICATE", &der).as_bytes(), PUBLIC)?;
        if spec.usages.contains(&Usage::Server) {
            let ips: Vec<String> = request.ips.iter().map(ToString::to_string).collect();
            self.out.push(format!(
                "[certs] {} serving cert is signed for DNS names [{}] and IPs [{}]",
                spec.base_name,
                request.dns_names.join(" "),
                ips.join(" ")
            ));
        }
        Ok(())
    }

    /// `runCertsSa` / `CreateServiceAccountKeyAndPublicKeyFiles`. kubeadm writes `sa.pub` with
    /// `keyutil.WriteKey`, hence 0600 like the key.
    fn service_account(&mut self) -> Result<(), CertsError> {
        if using_external_ca(self.cfg, self.root) {
            self.out.push("[certs] Using existing sa keys".to_owned());
            return Ok(());
        }
        let path = self.cfg.cert_path("sa.key");
        if let Some(pem) = self.read(&path)? {
            pki::parse_private_key(&pem).map_err(|source| CertsError::Invalid { path, source })?;
            self.out.push(format!("[certs] Using the existing {SA:?} key"));
            return Ok(());
        }
        let key = self.take_key(SA)?;
        self.out.push(format!("[certs] Generating {SA:?} key and public key"));
        self.write(&path, key.pem.as_bytes(), PRIVATE)?;
        self.write(&self.cfg.cert_path("sa.pub"), pki::public_key_pem(&key.pair).as_bytes(), PRIVATE)
    }
}
