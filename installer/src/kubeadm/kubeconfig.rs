//! `kubeconfig` phase of `init`: admin.conf, super-admin.conf, kubelet.conf,
//! controller-manager.conf and scheduler.conf in `/etc/kubernetes`, each with a client
//! certificate signed by the cluster CA and embedded as client-go writes it (kubeadm v1.31+:
//! cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go, cmd/kubeadm/app/cmd/phases/init/kubeconfig.go).
//! An existing file is kept when it trusts the same CA; without `ca.key` (external CA) every file
//! must already be there.

mod render;
#[cfg(test)]
mod tests;
mod user;

use render::write;
pub use render::{Credentials, PREFERENCES_OMITTED_FROM, render, render_token};
pub use user::{UserRequest, user_kubeconfig};

use std::collections::HashMap;
use std::time::SystemTime;

use rcgen::{ExtendedKeyUsagePurpose, KeyPair};
use serde_json::Value;

use super::InitConfig;
use super::certs::pki::{self, CertRequest, Key, PkiError};
use super::config::defaults::KUBERNETES_DIR;
use super::files::{PRIVATE, Root};

/// Which API endpoint a kubeconfig points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GetControlPlaneEndpoint`: the control-plane endpoint, else the local one.
    ControlPlane,
    /// `GetLocalAPIEndpoint`: `https://<advertiseAddress>:<bindPort>`.
    Local,
}

/// One kubeconfig file of `getKubeConfigSpecsBase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeconfigSpec {
    /// Phase name (`controller-manager`).
    pub name: &'static str,
    /// File name in `/etc/kubernetes`.
    pub file: &'static str,
    /// The server it points at.
    pub endpoint: Endpoint,
    /// The user (certificate CN); `None` for `system:node:<node name>`.
    pub client: Option<&'static str>,
    /// The certificate's O.
    pub organization: Option<&'static str>,
}

/// kubeadm's kubeconfig files, in its phase order.
pub const KUBECONFIGS: &[KubeconfigSpec] = &[
    KubeconfigSpec {
        name: "admin",
        file: "admin.conf",
        endpoint: Endpoint::ControlPlane,
        client: Some("kubernetes-admin"),
        organization: Some("kubeadm:cluster-admins"),
    },
    KubeconfigSpec {
        name: "super-admin",
        file: "super-admin.conf",
        endpoint: Endpoint::ControlPlane,
        client: Some("kubernetes-super-admin"),
        organization: Some("system:masters"),
    },
    KubeconfigSpec {
        name: "kubelet",
        file: "kubelet.conf",
        endpoint: Endpoint::ControlPlane,
        client: None,
        organization: Some("system:nodes"),
    },
    KubeconfigSpec {
        name: "controller-manager",
        file: "controller-manager.conf",
        endpoint: Endpoint::Local,
        client: Some("system:kube-controller-manager"),
        organization: None,
    },
    KubeconfigSpec {
        name: "scheduler",
        file: "scheduler.conf",
        endpoint: Endpoint::Local,
        client: Some("system:kube-scheduler"),
        organization: None,
    },
];

/// The sub-phases of `kubeconfig` in kubeadm's order with their one-line help (`all` is left to
/// the phase runner).
pub fn phase_names() -> &'static [(&'static str, &'static str)] {
    &[
        ("admin", "Generate a kubeconfig file for the admin to use and for kubeadm itself"),
        ("super-admin", "Generate a kubeconfig file for the super-admin"),
        ("kubelet", "Generate a kubeconfig file for the kubelet to use *only* for cluster bootstrapping purposes"),
        ("controller-manager", "Generate a kubeconfig file for the controller manager to use"),
        ("scheduler", "Generate a kubeconfig file for the scheduler to use"),
    ]
}

/// Why the `kubeconfig` phase failed.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// Not a sub-phase of `kubeconfig`.
    #[error("`{0}` is not a kubeconfig phase: use all, admin, super-admin, kubelet, controller-manager or scheduler")]
    UnknownPhase(String),
    /// No cluster CA yet.
    #[error("the CA file `{path}` does not exist: run the `certs/ca` phase first")]
    NoCa {
        /// `ca.crt`'s node path.
        path: String,
    },
    /// The CA certificate or key does not check out.
    #[error("couldn't create a kubeconfig; the CA file `{path}` couldn't be loaded")]
    BadCa {
        /// The node path.
        path: String,
        /// What is wrong.
        #[source]
        source: PkiError,
    },
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
    #[error("failed to save kubeconfig file {path:?} on disk")]
    Write {
        /// The node path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// An existing kubeconfig does not parse or lacks its current context's cluster.
    #[error("failed to load kubeconfig file {path:?} that already exists on disk: {reason}")]
    Unreadable {
        /// The node path.
        path: String,
        /// What is missing or malformed.
        reason: String,
    },
    /// kubeadm's error for an existing kubeconfig trusting another CA.
    #[error("a kubeconfig file {path:?} exists already but has got the wrong CA cert: remove it to have it regenerated")]
    WrongCa {
        /// The node path.
        path: String,
    },
    /// External-CA mode and a file is missing or wrong (kubeadm's wording).
    #[error("the {file} file does not exists or it is not valid")]
    ExternalCa {
        /// The file name.
        file: &'static str,
        /// What is wrong.
        #[source]
        source: Box<KubeconfigError>,
    },
    /// A file that must exist does not.
    #[error("`{path}` does not exist")]
    Missing {
        /// The node path.
        path: String,
    },
    /// Generating the client key or certificate failed.
    #[error("failure while creating {client} client certificate")]
    Generate {
        /// The user.
        client: String,
        /// Cause.
        #[source]
        source: PkiError,
    },
    /// Rendering YAML failed.
    #[error("failed to render {file}")]
    Render {
        /// The file name.
        file: &'static str,
        /// Cause.
        #[source]
        source: serde_saphyr::ser::Error,
    },
}

/// Runs `which` (`all`, `admin`, `super-admin`, `kubelet`, `controller-manager`, `scheduler`)
/// and returns the lines kubeadm prints. `now` stands for kubeadm's start time.
pub fn run(cfg: &InitConfig, root: &Root, which: &str, now: SystemTime) -> Result<Vec<String>, KubeconfigError> {
    let names: Vec<&str> = match which {
        "all" => KUBECONFIGS.iter().map(|k| k.name).collect(),
        name => vec![name],
    };
    let (mut out, mut keys) = if which == "all" { start(cfg, root, &names)? } else { (Vec::new(), PregeneratedKeys::default()) };
    for name in names {
        out.extend(run_one(cfg, root, name, now, &mut keys)?);
    }
    Ok(out)
}

/// Client keys generated ahead of the kubeconfig files that will need them.
#[derive(Default)]
pub struct PregeneratedKeys(HashMap<&'static str, Key>);

/// The `kubeconfig` phase itself (kubeadm's `runKubeConfig`): the folder line; and the client
/// keys of every file the `planned` sub-phases will write, generated in parallel (none with an
/// external CA, which signs nothing here).
pub fn start(cfg: &InitConfig, root: &Root, planned: &[&str]) -> Result<(Vec<String>, PregeneratedKeys), KubeconfigError> {
    let out = vec![format!("[kubeconfig] Using kubeconfig folder {KUBERNETES_DIR:?}")];
    if !root.exists(cfg.cert_path("ca.key")) {
        return Ok((out, PregeneratedKeys::default()));
    }
    let missing: Vec<&KubeconfigSpec> = KUBECONFIGS.iter().filter(|s| planned.contains(&s.name) && !root.exists(path_of(s))).collect();
    let Some(first) = missing.first() else { return Ok((out, PregeneratedKeys::default())) };
    let keys = pki::generate_keys(cfg.encryption_algorithm, missing.len())
        .map_err(|source| KubeconfigError::Generate { client: client_name(cfg, first), source })?;
    Ok((out, PregeneratedKeys(missing.iter().map(|s| s.name).zip(keys).collect())))
}

/// One sub-phase: writes its kubeconfig (with its key from `keys` when made ahead), or checks
/// the one there.
pub fn run_one(
    cfg: &InitConfig,
    root: &Root,
    name: &str,
    now: SystemTime,
    keys: &mut PregeneratedKeys,
) -> Result<Vec<String>, KubeconfigError> {
    let spec = KUBECONFIGS.iter().find(|k| k.name == name).ok_or_else(|| KubeconfigError::UnknownPhase(name.to_owned()))?;
    let mut out = Vec::new();
    let ca_path = cfg.cert_path("ca.crt");
    let ca_pem = read(root, &ca_path)?.ok_or_else(|| KubeconfigError::NoCa { path: ca_path.clone() })?;
    let bad_ca = |path: &str| {
        let path = path.to_owned();
        move |source| KubeconfigError::BadCa { path, source }
    };
    let ca_der = pki::first_certificate(&ca_pem).map_err(bad_ca(&ca_path))?;
    pki::check_validity(&ca_der, now).map_err(bad_ca(&ca_path))?;
    let ca_key_path = cfg.cert_path("ca.key");
    let Some(ca_key_pem) = read(root, &ca_key_path)? else {
        return external_ca(cfg, root, &[spec], &ca_der, out);
    };
    let ca_key = pki::parse_private_key(&ca_key_pem).map_err(bad_ca(&ca_key_path))?;
    pki::check_key_matches(&ca_der, &ca_key).map_err(bad_ca(&ca_key_path))?;
    let ca = SigningCa { der: &ca_der, key: &ca_key };
    let path = path_of(spec);
    if root.exists(&path) {
        out.extend(check_existing(root, &path, &ca_der, &server_of(cfg, spec))?);
        out.push(format!("[kubeconfig] Using existing kubeconfig file: {path:?}"));
        return Ok(out);
    }
    let key = match keys.0.remove(spec.name) {
        Some(key) => key,
        None => pki::generate_key(cfg.encryption_algorithm)
            .map_err(|source| KubeconfigError::Generate { client: client_name(cfg, spec), source })?,
    };
    let bytes = render_spec(cfg, spec, &ca, key, now)?;
    out.push(format!("[kubeconfig] Writing {:?} kubeconfig file", spec.file));
    tracing::debug!(path, "writing");
    root.write(&path, bytes.as_bytes(), PRIVATE).map_err(|source| KubeconfigError::Write { path: path.clone(), source })?;
    Ok(out)
}

/// `ValidateKubeconfigsForExternalCA`, then kubeadm's `External CA mode` line per file.
fn external_ca(
    cfg: &InitConfig,
    root: &Root,
    selected: &[&KubeconfigSpec],
    ca_der: &[u8],
    mut out: Vec<String>,
) -> Result<Vec<String>, KubeconfigError> {
    for spec in selected {
        let path = path_of(spec);
        let warnings = if root.exists(&path) {
            check_existing(root, &path, ca_der, &server_of(cfg, spec))
        } else {
            Err(KubeconfigError::Missing { path })
        }
        .map_err(|source| KubeconfigError::ExternalCa { file: spec.file, source: Box::new(source) })?;
        out.extend(warnings);
        out.push(format!("[kubeconfig] External CA mode: Using user provided {}", spec.file));
    }
    Ok(out)
}

struct SigningCa<'a> {
    der: &'a [u8],
    key: &'a KeyPair,
}

fn path_of(spec: &KubeconfigSpec) -> String {
    format!("{KUBERNETES_DIR}/{}", spec.file)
}

fn read(root: &Root, path: &str) -> Result<Option<Vec<u8>>, KubeconfigError> {
    tracing::debug!(path, "reading");
    root.read(path).map_err(|source| KubeconfigError::Read { path: path.to_owned(), source })
}

fn client_name(cfg: &InitConfig, spec: &KubeconfigSpec) -> String {
    spec.client.map_or_else(|| format!("system:node:{}", cfg.node_name), str::to_owned)
}

fn server_of(cfg: &InitConfig, spec: &KubeconfigSpec) -> String {
    match spec.endpoint {
        // kubeadm v1.33+ (ControlPlaneKubeletLocalMode, on by default) unsets the
        // controlPlaneEndpoint for kubelet.conf: the kubelet of a control-plane node talks to its
        // own API server (cmd/phases/init/kubeconfig.go).
        Endpoint::ControlPlane if spec.client.is_none() && cfg.feature("ControlPlaneKubeletLocalMode") => cfg.local_api_url(),
        Endpoint::ControlPlane => cfg.control_plane_url(),
        Endpoint::Local => cfg.local_api_url(),
    }
}

/// The client certificate (`newClientCertConfigFromKubeConfigSpec`: CN = user, O, ClientAuth)
/// signed by the CA, and the file around it.
fn render_spec(cfg: &InitConfig, spec: &KubeconfigSpec, ca: &SigningCa<'_>, key: Key, now: SystemTime) -> Result<String, KubeconfigError> {
    let client = client_name(cfg, spec);
    let request = CertRequest {
        common_name: client.clone(),
        organization: spec.organization.map(str::to_owned),
        usages: vec![ExtendedKeyUsagePurpose::ClientAuth],
        dns_names: Vec::new(),
        ips: Vec::new(),
        // pkiutil.NewSignedCert: no NotBefore in the kubeconfig spec, so the CA's own.
        not_before: ca_not_before(ca.der).map_err(|source| KubeconfigError::Generate { client: client.clone(), source })?,
        not_after: now + cfg.cert_validity,
    };
    let der = pki::signed_leaf(&request, &key.pair, ca.der, ca.key)
        .map_err(|source| KubeconfigError::Generate { client: client.clone(), source })?;
    let files = Credentials { ca: pki::pem_encode("CERTIFICATE", ca.der), cert: pki::pem_encode("CERTIFICATE", &der), key: key.pem };
    render(&cfg.cluster_name, &server_of(cfg, spec), &client, &files, cfg.version.minor)
        .map_err(|source| KubeconfigError::Render { file: spec.file, source })
}

/// The CA certificate's NotBefore.
fn ca_not_before(der: &[u8]) -> Result<SystemTime, pki::PkiError> {
    let seconds = pki::parse(der)?.validity().not_before.timestamp();
    Ok(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or_default()))
}

/// `validateKubeConfig`: the current context's cluster must trust the same CA (else kubeadm's
/// error); a different server only warns. Returns the warning lines.
fn check_existing(root: &Root, path: &str, ca_der: &[u8], server: &str) -> Result<Vec<String>, KubeconfigError> {
    let bytes = read(root, path)?.ok_or_else(|| KubeconfigError::Missing { path: path.to_owned() })?;
    let unreadable = |reason: &str| KubeconfigError::Unreadable { path: path.to_owned(), reason: reason.to_owned() };
    let text = std::str::from_utf8(&bytes).map_err(|_| unreadable("not UTF-8"))?;
    let config: Value = serde_saphyr::from_str(text).map_err(|e| unreadable(&e.to_string()))?;
    let current = config["current-context"].as_str().unwrap_or_default();
    let named = |list: &str, name: &str| config[list].as_array().and_then(|items| items.iter().find(|i| i["name"] == name)).cloned();
    let context = named("contexts", current).ok_or_else(|| unreadable("its current-context is not in contexts"))?;
    let cluster_name = context["context"]["cluster"].as_str().unwrap_or_default();
    let cluster = named("clusters", cluster_name).ok_or_else(|| unreadable("its current context's cluster is not in clusters"))?;
    let cluster = &cluster["cluster"];
    let ca_pem = match cluster["certificate-authority-data"].as_str() {
        Some(data) => pki::base64_decode(data).ok_or_else(|| unreadable("certificate-authority-data is not base64"))?,
        // kubeadm falls back to the CA file the cluster names.
        None => match cluster["certificate-authority"].as_str() {
            Some(file) => read(root, file)?.unwrap_or_default(),
            None => Vec::new(),
        },
    };
    if pki::certificates(&ca_pem).ok() != Some(vec![ca_der.to_vec()]) {
        return Err(KubeconfigError::WrongCa { path: path.to_owned() });
    }
    let current_server = cluster["server"].as_str().unwrap_or_default();
    Ok(if current_server == server {
        Vec::new()
    } else {
        vec![format!(
            "[kubeconfig] WARNING: a kubeconfig file {path:?} exists already but has an unexpected API Server URL: expected: {server}, got: {current_server}"
        )]
    })
}
