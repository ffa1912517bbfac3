//! `join`'s configuration (kubeadm: `LoadOrDefaultJoinConfiguration`, v1beta4 `SetDefaults_*`
//! and `ValidateJoinConfiguration`): the JoinConfiguration document, then the flags, then
//! kubeadm's defaults. Pure.

use std::time::Duration;

use bundle::kubeadm::{ApiEndpoint, JoinConfiguration, NodeRegistrationOptions, Taint};

use super::{ConfigError, HostFacts, values::parse_duration};

/// kubeadm's join flags (those that set configuration fields).
#[derive(Debug, Clone, Default)]
pub struct JoinFlags {
    /// The positional `[api-server-endpoint]`.
    pub endpoint: Option<String>,
    /// `--token`: discovery and TLS bootstrap token both.
    pub token: Option<String>,
    /// `--discovery-token`.
    pub discovery_token: Option<String>,
    /// `--discovery-token-ca-cert-hash` (repeatable).
    pub ca_cert_hashes: Vec<String>,
    /// `--discovery-token-unsafe-skip-ca-verification`.
    pub unsafe_skip_ca_verification: bool,
    /// `--discovery-file`.
    pub discovery_file: Option<String>,
    /// `--tls-bootstrap-token`.
    pub tls_bootstrap_token: Option<String>,
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--control-plane`.
    pub control_plane: bool,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
    /// `--apiserver-advertise-address` (control plane).
    pub advertise_address: Option<String>,
    /// `--apiserver-bind-port` (control plane).
    pub bind_port: Option<u16>,
    /// `--ignore-preflight-errors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `--patches`.
    pub patches: Option<String>,
}

/// How the cluster is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Token discovery against `endpoint` (`host:port`), pinning the CA with `ca_cert_hashes`
    /// (none when `unsafe_skip_ca_verification`).
    Token {
        /// `host:port`.
        endpoint: String,
        /// The discovery token.
        token: String,
        /// `sha256:…` pins.
        ca_cert_hashes: Vec<String>,
    },
    /// A kubeconfig file naming the cluster.
    File {
        /// The file (node path) or `https://` URL.
        path: String,
    },
}

/// Everything `join` runs from, resolved.
#[derive(Debug, Clone)]
pub struct JoinConfig {
    /// How the cluster is found.
    pub discovery: Discovery,
    /// The TLS bootstrap token (default: the discovery token).
    pub tls_bootstrap_token: Option<String>,
    /// `nodeRegistration`, defaulted (name, CRI socket; a worker's taints as given, else none).
    pub node_registration: NodeRegistrationOptions,
    /// `nodeRegistration.name`.
    pub node_name: String,
    /// `nodeRegistration.criSocket`.
    pub cri_socket: String,
    /// `caCertPath`.
    pub ca_cert_path: String,
    /// Joining as another control-plane node.
    pub control_plane: Option<JoinControlPlane>,
    /// `nodeRegistration.ignorePreflightErrors` plus the flag, lower-cased.
    pub ignore_preflight_errors: Vec<String>,
    /// `skipPhases`, or `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `patches.directory` or `--patches`.
    pub patches_dir: Option<String>,
    /// `timeouts.discovery` (5m).
    pub discovery_timeout: Duration,
    /// `timeouts.tlsBootstrap` (5m).
    pub tls_bootstrap_timeout: Duration,
    /// `timeouts.kubeletHealthCheck` (4m).
    pub kubelet_health_timeout: Duration,
    /// `timeouts.kubernetesAPICall` (1m).
    pub kubernetes_api_call_timeout: Duration,
    /// `timeouts.etcdAPICall` (2m).
    pub etcd_api_call_timeout: Duration,
    /// `timeouts.controlPlaneComponentHealthCheck` (4m).
    pub control_plane_health_timeout: Duration,
}

/// `controlPlane` of a JoinConfiguration (or `--control-plane`), with the flags applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinControlPlane {
    /// `certificateKey` (`--certificate-key`): decrypts the `kubeadm-certs` Secret.
    pub certificate_key: Option<String>,
    /// `localAPIEndpoint` (`--apiserver-advertise-address`, `--apiserver-bind-port`); the
    /// address defaults later, from the node's default route, as init's does.
    pub local_api_endpoint: ApiEndpoint,
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

fn duration(field: &str, given: Option<&String>, default: Duration) -> Result<Duration, ConfigError> {
    match given {
        None => Ok(default),
        Some(text) => parse_duration(text).ok_or_else(|| invalid(format!("timeouts.{field}: `{text}` is not a duration like 5m0s"))),
    }
}

/// Resolves the document (if any), the flags and the node's facts into a [`JoinConfig`].
pub fn resolve_join(doc: Option<JoinConfiguration>, flags: &JoinFlags, host: &HostFacts) -> Result<JoinConfig, ConfigError> {
    let doc = doc.unwrap_or_default();
    let mut node = doc.node_registration.clone().unwrap_or_default();
    if let Some(name) = &flags.node_name {
        node.name = Some(name.clone());
    }
    if let Some(socket) = &flags.cri_socket {
        node.cri_socket = Some(socket.clone());
    }
    let node_name = node.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| host.hostname.clone());
    node.name = Some(node_name.clone());
    let cri_socket = node.cri_socket.clone().or_else(|| host.cri_socket.clone()).ok_or_else(|| {
        invalid("no CRI socket found on this node: start the container runtime, or give --cri-socket unix:///PATH".into())
    })?;
    node.cri_socket = Some(cri_socket.clone());
    let control_plane = (doc.control_plane.is_some() || flags.control_plane).then(|| {
        let given = doc.control_plane.clone().unwrap_or_default();
        let endpoint = given.local_api_endpoint.unwrap_or_default();
        JoinControlPlane {
            certificate_key: flags.certificate_key.clone().or(given.certificate_key).filter(|k| !k.is_empty()),
            local_api_endpoint: ApiEndpoint {
                advertise_address: flags.advertise_address.clone().or(endpoint.advertise_address).filter(|a| !a.is_empty()),
                bind_port: flags.bind_port.or(endpoint.bind_port).filter(|p| *p != 0),
            },
        }
    });
    if node.taints.is_none() {
        // SetDefaults_NodeRegistration: a control-plane node gets kubeadm's control-plane taint,
        // a worker none.
        let control_plane_taint =
            Taint { key: "node-role.kubernetes.io/control-plane".into(), value: None, effect: "NoSchedule".into(), time_added: None };
        node.taints = Some(if control_plane.is_some() { vec![control_plane_taint] } else { Vec::new() });
    }
    let discovery_doc = doc.discovery.clone().unwrap_or_default();
    let token_doc = discovery_doc.bootstrap_token.clone().unwrap_or_default();
    let discovery_token = flags.discovery_token.clone().or_else(|| flags.token.clone()).or(token_doc.token);
    let file = flags.discovery_file.clone().or_else(|| discovery_doc.file.and_then(|f| f.kube_config_path));
    let discovery = match (file, discovery_token) {
        (Some(path), _) => Discovery::File { path },
        (None, Some(token)) => {
            let endpoint = flags.endpoint.clone().or(token_doc.api_server_endpoint).ok_or_else(|| {
                invalid("token discovery needs the API server endpoint: give it as `airadm join HOST:PORT …` (or discovery.bootstrapToken.apiServerEndpoint)".into())
            })?;
            let mut ca_cert_hashes = token_doc.ca_cert_hashes.unwrap_or_default();
            ca_cert_hashes.extend(flags.ca_cert_hashes.iter().cloned());
            let unsafe_skip = flags.unsafe_skip_ca_verification || token_doc.unsafe_skip_ca_verification.unwrap_or(false);
            if ca_cert_hashes.is_empty() && !unsafe_skip {
                return Err(invalid(
                    "using token-based discovery without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue".into(),
                ));
            }
            if unsafe_skip {
                ca_cert_hashes.clear();
            }
            Discovery::Token { endpoint, token, ca_cert_hashes }
        }
        (None, None) => {
            return Err(invalid(
                "discovery: Invalid value: \"\": bootstrapToken or file must be set: give --token and the endpoint, or --discovery-file"
                    .into(),
            ));
        }
    };
    let tls_bootstrap_token = flags.tls_bootstrap_token.clone().or(discovery_doc.tls_bootstrap_token).or(match &discovery {
        Discovery::Token { token, .. } => Some(token.clone()),
        Discovery::File { .. } => flags.token.clone(),
    });
    let mut ignore: Vec<String> = node.ignore_preflight_errors.clone().unwrap_or_default();
    ignore.extend(flags.ignore_preflight_errors.iter().cloned());
    let ignore_preflight_errors = ignore.iter().map(|e| e.to_lowercase()).collect();
    let skip_phases = if flags.skip_phases.is_empty() { doc.skip_phases.clone().unwrap_or_default() } else { flags.skip_phases.clone() };
    let timeouts = doc.timeouts.clone().unwrap_or_default();
    Ok(JoinConfig {
        discovery,
        tls_bootstrap_token,
        node_name,
        cri_socket,
        ca_cert_path: doc.ca_cert_path.clone().unwrap_or_else(|| "/etc/kubernetes/pki/ca.crt".into()),
        control_plane,
        ignore_preflight_errors,
        skip_phases,
        patches_dir: flags.patches.clone().or_else(|| doc.patches.clone().and_then(|p| p.directory)),
        discovery_timeout: duration("discovery", timeouts.discovery.as_ref(), Duration::from_secs(300))?,
        tls_bootstrap_timeout: duration("tlsBootstrap", timeouts.tls_bootstrap.as_ref(), Duration::from_secs(300))?,
        kubelet_health_timeout: duration("kubeletHealthCheck", timeouts.kubelet_health_check.as_ref(), Duration::from_secs(240))?,
        kubernetes_api_call_timeout: duration("kubernetesAPICall", timeouts.kubernetes_api_call.as_ref(), Duration::from_secs(60))?,
        etcd_api_call_timeout: duration("etcdAPICall", timeouts.etcd_api_call.as_ref(), Duration::from_secs(120))?,
        control_plane_health_timeout: duration(
            "controlPlaneComponentHealthCheck",
            timeouts.control_plane_component_health_check.as_ref(),
            Duration::from_secs(240),
        )?,
        node_registration: node,
    })
}
