//! Resolving the configuration: kubeadm's flags over the decoded documents, then kubeadm's
//! defaults for what neither gives, checking each value on the way.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use bundle::kubeadm::{
    API_VERSION_V1BETA4, ApiEndpoint, ApiServer, BootstrapToken, Etcd, LocalEtcd, Networking, NodeRegistrationOptions, Taint, Timeouts,
};

use super::token::default_token;
use super::{ComponentImages, ConfigError, Documents, InitConfig, KeyAlgorithm, Version, defaults, indexed_ip, invalid, parse_duration};

/// kubeadm's init flags that change the configuration (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct InitFlags {
    /// `--apiserver-advertise-address`.
    pub advertise_address: Option<String>,
    /// `--apiserver-bind-port`.
    pub bind_port: Option<u16>,
    /// `--apiserver-cert-extra-sans`.
    pub cert_extra_sans: Vec<String>,
    /// `--control-plane-endpoint`.
    pub control_plane_endpoint: Option<String>,
    /// `--pod-network-cidr`.
    pub pod_network_cidr: Option<String>,
    /// `--service-cidr`.
    pub service_cidr: Option<String>,
    /// `--service-dns-domain`.
    pub service_dns_domain: Option<String>,
    /// `--node-name`.
    pub node_name: Option<String>,
    /// `--cert-dir`.
    pub cert_dir: Option<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--ignore-preflight-errors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
    /// `--patches`.
    pub patches: Option<String>,
    /// `--certificate-key`.
    pub certificate_key: Option<String>,
    /// `--token`.
    pub token: Option<String>,
    /// `--token-ttl`.
    pub token_ttl: Option<String>,
    /// `--feature-gates` (`Name=true,Other=false`).
    pub feature_gates: Option<String>,
}

/// What the host says, for defaults the config does not give.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// The hostname, lower-cased.
    pub hostname: String,
    /// The address of the default route's interface, when there is one.
    pub default_address: Option<IpAddr>,
    /// The detected CRI socket, when there is one.
    pub cri_socket: Option<String>,
}

/// Builds the resolved configuration: documents, then flags, then defaults. `version` and
/// `images` come from the bundle. With a config file, the command line refuses every flag that
/// sets a field (kubeadm's `ValidateMixedArguments`, [`crate::cli::init::mixed_with_config`]), so
/// the flags left are the ones kubeadm applies over the file: `--node-name` wins,
/// `--ignore-preflight-errors` adds to the file's, `--skip-phases` replaces the file's.
pub fn resolve(
    docs: Documents,
    flags: &InitFlags,
    host: &HostFacts,
    version: &Version,
    images: ComponentImages,
) -> Result<InitConfig, ConfigError> {
    let mut init = docs.init.unwrap_or_default();
    let mut cluster = docs.cluster.unwrap_or_default();
    init.api_version = API_VERSION_V1BETA4.into();
    init.kind = "InitConfiguration".into();
    cluster.api_version = API_VERSION_V1BETA4.into();
    cluster.kind = "ClusterConfiguration".into();

    if let Some(given) = cluster.kubernetes_version.as_deref() {
        let parsed = Version::parse(given)
            .ok_or_else(|| invalid(format!("ClusterConfiguration.kubernetesVersion: `{given}` is not a version like v1.31.2")))?;
        if parsed.major != version.major || parsed.minor != version.minor || parsed.patch != version.patch {
            return Err(invalid(format!(
                "ClusterConfiguration.kubernetesVersion is {given} but the bundle is for {version}: use a {given} bundle, or remove kubernetesVersion"
            )));
        }
    }
    cluster.kubernetes_version = Some(version.text.clone());

    // Flags over documents.
    let node = init.node_registration.get_or_insert_with(NodeRegistrationOptions::default);
    let endpoint = init.local_api_endpoint.get_or_insert_with(ApiEndpoint::default);
    let networking = cluster.networking.get_or_insert_with(Networking::default);
    if let Some(v) = &flags.advertise_address {
        endpoint.advertise_address = Some(v.clone());
    }
    if let Some(v) = flags.bind_port {
        endpoint.bind_port = Some(v);
    }
    if let Some(v) = &flags.control_plane_endpoint {
        cluster.control_plane_endpoint = Some(v.clone());
    }
    if let Some(v) = &flags.pod_network_cidr {
        networking.pod_subnet = Some(v.clone());
    }
    if let Some(v) = &flags.service_cidr {
        networking.service_subnet = Some(v.clone());
    }
    if let Some(v) = &flags.service_dns_domain {
        networking.dns_domain = Some(v.clone());
    }
    if let Some(v) = &flags.node_name {
        node.name = Some(v.clone());
    }
    if let Some(v) = &flags.cert_dir {
        cluster.certificates_dir = Some(v.clone());
    }
    if let Some(v) = &flags.cri_socket {
        node.cri_socket = Some(v.clone());
    }
    if let Some(v) = &flags.patches {
        init.patches = Some(bundle::kubeadm::Patches { directory: Some(v.clone()) });
    }
    if let Some(v) = &flags.certificate_key {
        init.certificate_key = Some(v.clone());
    }
    if !flags.cert_extra_sans.is_empty() {
        let api_server = cluster.api_server.get_or_insert_with(ApiServer::default);
        api_server.cert_sans.get_or_insert_with(Vec::new).extend(flags.cert_extra_sans.iter().cloned());
    }
    if let Some(gates) = &flags.feature_gates {
        let map = cluster.feature_gates.get_or_insert_with(BTreeMap::new);
        for pair in gates.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| invalid(format!("--feature-gates: `{pair}` is not Name=true|false")))?;
            let value = value.parse().map_err(|_| invalid(format!("--feature-gates: `{pair}` is not Name=true|false")))?;
            map.insert(name.to_owned(), value);
        }
    }
    let known = known_feature_gates(version);
    for name in cluster.feature_gates.iter().flat_map(BTreeMap::keys) {
        if !known.contains(&name.as_str()) {
            return Err(invalid(format!(
                "ClusterConfiguration.featureGates: {name} is not a valid feature name of kubeadm v1.{} (known: {})",
                version.minor,
                known.join(", ")
            )));
        }
    }
    if flags.token.is_some() || flags.token_ttl.is_some() {
        let tokens = init.bootstrap_tokens.get_or_insert_with(|| vec![BootstrapToken::default()]);
        if tokens.is_empty() {
            tokens.push(BootstrapToken::default());
        }
        if let Some(token) = &flags.token {
            tokens[0].token = Some(token.clone());
        }
        if let Some(ttl) = &flags.token_ttl {
            tokens[0].ttl = Some(ttl.clone());
        }
    }

    // Defaults.
    let node = init.node_registration.get_or_insert_with(NodeRegistrationOptions::default);
    let node_name = node.name.clone().unwrap_or_else(|| host.hostname.clone());
    validate_node_name(&node_name)?;
    node.name = Some(node_name.clone());
    let cri_socket = node.cri_socket.clone().or_else(|| host.cri_socket.clone()).unwrap_or_else(|| defaults::CRI_SOCKET.to_owned());
    node.cri_socket = Some(cri_socket.clone());
    let image_pull_policy = node.image_pull_policy.get_or_insert_with(|| defaults::IMAGE_PULL_POLICY.into()).clone();
    node.image_pull_serial.get_or_insert(true);
    let taints = node
        .taints
        .clone()
        .unwrap_or_else(|| vec![Taint { key: defaults::CONTROL_PLANE_TAINT.into(), effect: "NoSchedule".into(), ..Default::default() }]);
    // `timeAdded` is a metav1.Time: kubeadm's decoder refuses a value that is not RFC 3339, and
    // mark-control-plane relies on this check instead of dropping it.
    for (i, taint) in taints.iter().enumerate() {
        if let Some(at) = taint.time_added.as_deref()
            && serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>(serde_json::json!(at)).is_err()
        {
            return Err(invalid(format!(
                "nodeRegistration.taints[{i}].timeAdded: `{at}` is not an RFC 3339 time like 2024-05-01T10:00:00Z"
            )));
        }
    }
    let kubelet_extra_args = node.kubelet_extra_args.clone().unwrap_or_default();
    let mut ignore_preflight_errors: Vec<String> = node.ignore_preflight_errors.clone().unwrap_or_default();
    ignore_preflight_errors.extend(flags.ignore_preflight_errors.iter().cloned());
    let ignore_preflight_errors = ignore_preflight_errors.iter().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()).collect();

    let endpoint = init.local_api_endpoint.get_or_insert_with(ApiEndpoint::default);
    let advertise_address = match endpoint.advertise_address.as_deref().filter(|a| !a.is_empty()) {
        Some(text) => {
            let ip: IpAddr = text.parse().map_err(|_| {
                invalid(format!("localAPIEndpoint.advertiseAddress: `{text}` is not a valid textual representation of an IP address"))
            })?;
            if ip.is_unspecified() {
                host.default_address
                    .ok_or_else(|| invalid("no default route to choose an advertise address from: pass --apiserver-advertise-address"))?
            } else {
                ip
            }
        }
        None => host.default_address.ok_or_else(|| {
            invalid("this node has no default route to choose an advertise address from: pass --apiserver-advertise-address")
        })?,
    };
    endpoint.advertise_address = Some(advertise_address.to_string());
    let bind_port = *endpoint.bind_port.get_or_insert(defaults::BIND_PORT);
    if bind_port == 0 {
        return Err(invalid("localAPIEndpoint.bindPort: 0 is not a valid port"));
    }

    let networking = cluster.networking.get_or_insert_with(Networking::default);
    let service_subnet = networking.service_subnet.get_or_insert_with(|| defaults::SERVICE_SUBNET.into()).clone();
    let dns_domain = networking.dns_domain.get_or_insert_with(|| defaults::DNS_DOMAIN.into()).clone();
    let pod_subnet = networking.pod_subnet.clone().filter(|s| !s.is_empty());
    for cidr in service_subnet.split(',').chain(pod_subnet.as_deref().unwrap_or_default().split(',')).filter(|c| !c.is_empty()) {
        indexed_ip(cidr.trim(), 0).map_err(|_| invalid(format!("networking: `{cidr}` is not a valid CIDR")))?;
    }
    let cert_dir = cluster.certificates_dir.get_or_insert_with(|| defaults::CERTIFICATES_DIR.into()).clone();
    if !cert_dir.starts_with('/') {
        return Err(invalid(format!("certificatesDir: `{cert_dir}` must be an absolute path")));
    }
    let cluster_name = cluster.cluster_name.get_or_insert_with(|| defaults::CLUSTER_NAME.into()).clone();
    cluster.image_repository.get_or_insert_with(|| image_repository(&images.api_server));
    let algorithm = cluster.encryption_algorithm.get_or_insert_with(|| "RSA-2048".into()).clone();
    let encryption_algorithm = KeyAlgorithm::parse(&algorithm, version)?;
    let cert_validity = validity(&mut cluster.certificate_validity_period, "8760h0m0s", "certificateValidityPeriod")?;
    let ca_validity = validity(&mut cluster.ca_certificate_validity_period, "87600h0m0s", "caCertificateValidityPeriod")?;
    let etcd = cluster.etcd.get_or_insert_with(Etcd::default);
    match (&mut etcd.local, &etcd.external) {
        (Some(_), Some(_)) => return Err(invalid("ClusterConfiguration.etcd: give either local or external, not both")),
        (None, Some(external)) if external.endpoints.is_empty() => {
            return Err(invalid("ClusterConfiguration.etcd.external.endpoints: at least one endpoint is needed"));
        }
        (None, Some(_)) => {}
        (local, None) => {
            let local = local.get_or_insert_with(LocalEtcd::default);
            local.data_dir.get_or_insert_with(|| defaults::ETCD_DATA_DIR.into());
        }
    }
    let timeouts = init.timeouts.get_or_insert_with(Timeouts::default);
    let health = timeouts.control_plane_component_health_check.get_or_insert_with(|| "4m0s".into()).clone();
    let control_plane_health_timeout = parse_duration(&health)
        .ok_or_else(|| invalid(format!("timeouts.controlPlaneComponentHealthCheck: `{health}` is not a duration like 4m0s")))?;
    let kubelet_health = timeouts.kubelet_health_check.get_or_insert_with(|| "4m0s".into()).clone();
    let kubelet_health_timeout = parse_duration(&kubelet_health)
        .ok_or_else(|| invalid(format!("timeouts.kubeletHealthCheck: `{kubelet_health}` is not a duration like 4m0s")))?;
    let api_call = timeouts.kubernetes_api_call.get_or_insert_with(|| "1m0s".into()).clone();
    let kubernetes_api_call_timeout = parse_duration(&api_call)
        .ok_or_else(|| invalid(format!("timeouts.kubernetesAPICall: `{api_call}` is not a duration like 1m0s")))?;
    timeouts.etcd_api_call.get_or_insert_with(|| "2m0s".into());
    timeouts.tls_bootstrap.get_or_insert_with(|| "5m0s".into());
    timeouts.discovery.get_or_insert_with(|| "5m0s".into());
    timeouts.upgrade_manifests.get_or_insert_with(|| "5m0s".into());
    let bootstrap_tokens = init.bootstrap_tokens.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| vec![BootstrapToken::default()]);
    let bootstrap_tokens = bootstrap_tokens.into_iter().map(default_token).collect::<Result<_, _>>()?;
    if let Some(key) = &init.certificate_key
        && (key.len() != 64 || hex::decode(key).is_err())
    {
        return Err(invalid("certificateKey (--certificate-key): must be 64 hex characters (32 bytes)"));
    }
    // kubeadm v1.31 cmd/init.go: "If the flag for skipping phases was empty, use the values from config".
    let skip_phases = if flags.skip_phases.is_empty() { init.skip_phases.clone().unwrap_or_default() } else { flags.skip_phases.clone() };

    Ok(InitConfig {
        version: version.clone(),
        node_name,
        cri_socket,
        advertise_address,
        bind_port,
        control_plane_endpoint: cluster.control_plane_endpoint.clone().filter(|e| !e.is_empty()),
        service_subnet,
        pod_subnet,
        dns_domain,
        cluster_name,
        cert_dir,
        encryption_algorithm,
        cert_validity,
        ca_validity,
        api_server: cluster.api_server.clone().unwrap_or_default(),
        controller_manager: cluster.controller_manager.clone().unwrap_or_default(),
        scheduler: cluster.scheduler.clone().unwrap_or_default(),
        etcd: cluster.etcd.clone().unwrap_or_default(),
        images,
        taints,
        register_taints_with_flags: false,
        kubelet_extra_args,
        image_pull_policy,
        ignore_preflight_errors,
        feature_gates: cluster.feature_gates.clone().unwrap_or_default(),
        patches_dir: init.patches.as_ref().and_then(|p| p.directory.clone()).filter(|d| !d.is_empty()),
        control_plane_health_timeout,
        kubelet_health_timeout,
        kubernetes_api_call_timeout,
        skip_phases,
        bootstrap_tokens,
        certificate_key: init.certificate_key.clone(),
        kubelet_configuration: docs.kubelet,
        kube_proxy_configuration: docs.kube_proxy,
        cluster_document: cluster,
    })
}

fn validity(slot: &mut Option<String>, default: &str, field: &str) -> Result<Duration, ConfigError> {
    let text = slot.get_or_insert_with(|| default.into()).clone();
    parse_duration(&text).ok_or_else(|| invalid(format!("ClusterConfiguration.{field}: `{text}` is not a duration like {default}")))
}

/// `registry.k8s.io` from `registry.k8s.io/kube-apiserver:v1.31.2`.
fn image_repository(image: &str) -> String {
    image.rsplit_once('/').map(|(repo, _)| repo.to_owned()).unwrap_or_default()
}

fn validate_node_name(name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("nodeRegistration.name (--node-name): `{name}` is not a valid node name (lower-case RFC 1123 subdomain)")))
    }
}

/// The names of kubeadm's `InitFeatureGates` in release `version` (`features/features.go`, read
/// in the module of every reference release; a gate that went GA is removed a few releases
/// later, and kubeadm then refuses its name).
pub fn known_feature_gates(version: &Version) -> Vec<&'static str> {
    let m = version.minor;
    [
        ("PublicKeysECDSA", 0, 36),
        ("RootlessControlPlane", 0, u32::MAX),
        ("EtcdLearnerMode", 0, 32),
        ("WaitForAllControlPlaneComponents", 0, 34),
        ("ControlPlaneKubeletLocalMode", 0, 35),
        ("NodeLocalCRISocket", 32, 36),
    ]
    .into_iter()
    .filter(|(_, from, until)| (*from..=*until).contains(&m))
    .map(|(name, _, _)| name)
    .collect()
}
