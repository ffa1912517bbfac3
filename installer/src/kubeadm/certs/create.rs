//! Running the `certs` phase (cmd/kubeadm/app/phases/certs/certs.go): each CA, leaf certificate
//! and the service-account key reused when its files check out, else generated and written.

use std::collections::HashMap;
use std::time::SystemTime;

use super::pki::{self, Key};
use super::{CERTS, CertSpec, CertsError, SA, Usage, request_for};
use crate::kubeadm::InitConfig;
use crate::kubeadm::files::{PRIVATE, PUBLIC, Root};

/// Runs `which` (`all`, or one sub-phase such as `apiserver`, `etcd-ca`, `sa`) and returns the
/// lines kubeadm prints. `now` stands for kubeadm's start time (NotBefore = now − 5 min).
pub fn run(cfg: &InitConfig, root: &Root, which: &str, now: SystemTime) -> Result<Vec<String>, CertsError> {
    let names: Vec<&str> = match which {
        "all" => super::phase_names().iter().map(|(name, _)| *name).collect(),
        name => vec![name],
    };
    let (mut out, mut keys) = if which == "all" { start(cfg, root, &names)? } else { (Vec::new(), PregeneratedKeys::default()) };
    for name in names {
        out.extend(run_one(cfg, root, name, now, &mut keys)?);
    }
    Ok(out)
}

/// Keys generated ahead of the certificates that will need them.
#[derive(Default)]
pub struct PregeneratedKeys(HashMap<&'static str, Key>);

/// The `certs` phase itself (kubeadm's `runCerts`): the folder line; and, because RSA key
/// generation dominates the phase's time, the keys of every certificate the `planned`
/// sub-phases will create, generated in parallel.
pub fn start(cfg: &InitConfig, root: &Root, planned: &[&str]) -> Result<(Vec<String>, PregeneratedKeys), CertsError> {
    let selected: Vec<&CertSpec> = CERTS.iter().filter(|c| planned.contains(&c.name)).collect();
    let mut run = Run { cfg, root, now: SystemTime::now(), out: Vec::new(), keys: HashMap::new() };
    run.pregenerate_keys(&selected, planned.contains(&SA))?;
    Ok((vec![format!("[certs] Using certificateDir folder {:?}", cfg.cert_dir)], PregeneratedKeys(run.keys)))
}

/// One sub-phase (`ca`, `apiserver`, …, `sa`), taking its key from `keys` when it was made ahead.
pub fn run_one(cfg: &InitConfig, root: &Root, name: &str, now: SystemTime, keys: &mut PregeneratedKeys) -> Result<Vec<String>, CertsError> {
    let mut run = Run { cfg, root, now, out: Vec::new(), keys: std::mem::take(&mut keys.0) };
    let result = match name {
        SA => run.service_account(),
        name => {
            let spec = CERTS.iter().find(|c| c.name == name).ok_or_else(|| CertsError::UnknownPhase(name.to_owned()))?;
            match spec.ca {
                None => run.ca(spec),
                Some(ca) => run.leaf(spec, spec_of(ca)),
            }
        }
    };
    keys.0 = std::mem::take(&mut run.keys);
    result.map(|()| run.out)
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
    cfg.local_etcd().is_none() && is_etcd(spec)
}

/// etcd's CA and the certificates it signs (kubeadm's `GetCertsWithoutEtcd` leaves them out).
pub(super) fn is_etcd(spec: &CertSpec) -> bool {
    spec.name == "etcd-ca" || spec.ca == Some("etcd-ca")
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
