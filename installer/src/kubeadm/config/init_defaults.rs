//! `kubeadm config print init-defaults`: kubeadm's defaulted v1beta4 documents.

use bundle::kubeadm::{
    API_VERSION_V1BETA4, ApiEndpoint, ApiServer, BootstrapToken, ClusterConfiguration, ControlPlaneComponent, Etcd, InitConfiguration,
    LocalEtcd, Networking, NodeRegistrationOptions, Timeouts,
};

use super::{ConfigError, defaults, invalid};

/// `kubeadm config print init-defaults`: kubeadm's defaulted v1beta4 documents with its
/// placeholders (advertise address 1.2.3.4, token abcdef.0123456789abcdef, node name `node`);
/// `version` and `image_repository` from the bundle when one is given.
pub fn init_defaults_yaml(version: Option<&str>, image_repository: Option<&str>) -> Result<String, ConfigError> {
    let init = InitConfiguration {
        api_version: API_VERSION_V1BETA4.into(),
        kind: "InitConfiguration".into(),
        bootstrap_tokens: Some(vec![BootstrapToken {
            token: Some("abcdef.0123456789abcdef".into()),
            ttl: Some("24h0m0s".into()),
            usages: Some(vec!["signing".into(), "authentication".into()]),
            groups: Some(vec!["system:bootstrappers:kubeadm:default-node-token".into()]),
            ..Default::default()
        }]),
        local_api_endpoint: Some(ApiEndpoint { advertise_address: Some("1.2.3.4".into()), bind_port: Some(defaults::BIND_PORT) }),
        node_registration: Some(NodeRegistrationOptions {
            cri_socket: Some(defaults::CRI_SOCKET.into()),
            image_pull_policy: Some(defaults::IMAGE_PULL_POLICY.into()),
            image_pull_serial: Some(true),
            name: Some("node".into()),
            ..Default::default()
        }),
        timeouts: Some(Timeouts {
            control_plane_component_health_check: Some("4m0s".into()),
            discovery: Some("5m0s".into()),
            etcd_api_call: Some("2m0s".into()),
            kubelet_health_check: Some("4m0s".into()),
            kubernetes_api_call: Some("1m0s".into()),
            tls_bootstrap: Some("5m0s".into()),
            upgrade_manifests: Some("5m0s".into()),
        }),
        ..Default::default()
    };
    let cluster = ClusterConfiguration {
        api_version: API_VERSION_V1BETA4.into(),
        kind: "ClusterConfiguration".into(),
        api_server: Some(ApiServer::default()),
        ca_certificate_validity_period: Some("87600h0m0s".into()),
        certificate_validity_period: Some("8760h0m0s".into()),
        certificates_dir: Some(defaults::CERTIFICATES_DIR.into()),
        cluster_name: Some(defaults::CLUSTER_NAME.into()),
        controller_manager: Some(ControlPlaneComponent::default()),
        dns: Some(bundle::kubeadm::Dns::default()),
        encryption_algorithm: Some("RSA-2048".into()),
        etcd: Some(Etcd {
            local: Some(LocalEtcd { data_dir: Some(defaults::ETCD_DATA_DIR.into()), ..Default::default() }),
            external: None,
        }),
        image_repository: Some(image_repository.unwrap_or("registry.k8s.io").into()),
        kubernetes_version: version.map(str::to_owned),
        networking: Some(Networking {
            dns_domain: Some(defaults::DNS_DOMAIN.into()),
            service_subnet: Some(defaults::SERVICE_SUBNET.into()),
            pod_subnet: None,
        }),
        proxy: Some(bundle::kubeadm::Proxy::default()),
        scheduler: Some(ControlPlaneComponent::default()),
        ..Default::default()
    };
    // Through serde_json::Value: keys sorted as kubeadm prints them; `taints: null` as kubeadm's
    // nil slice (the control-plane taint by default).
    let yaml = |value: &serde_json::Value| Ok::<_, ConfigError>(crate::kubeadm::yaml::to_yaml(value));
    let mut init = serde_json::to_value(&init).map_err(|e| invalid(e.to_string()))?;
    init["nodeRegistration"]["taints"] = serde_json::Value::Null;
    let cluster = serde_json::to_value(&cluster).map_err(|e| invalid(e.to_string()))?;
    Ok(format!("{}---\n{}", yaml(&init)?, yaml(&cluster)?))
}

/// kubeadm's default `timeouts` (v1beta4 `SetDefaults_Timeouts`), as the defaults documents print them.
pub(super) fn default_timeouts() -> serde_json::Value {
    serde_json::json!({
        "controlPlaneComponentHealthCheck": "4m0s",
        "discovery": "5m0s",
        "etcdAPICall": "2m0s",
        "kubeletHealthCheck": "4m0s",
        "kubernetesAPICall": "1m0s",
        "tlsBootstrap": "5m0s",
        "upgradeManifests": "5m0s",
    })
}

/// `kubeadm config print reset-defaults`: kubeadm's defaulted v1beta4 ResetConfiguration (the
/// same for every release from v1.31 on).
pub fn reset_defaults_yaml() -> String {
    let document = serde_json::json!({
        "apiVersion": API_VERSION_V1BETA4,
        "certificatesDir": defaults::CERTIFICATES_DIR,
        "criSocket": defaults::CRI_SOCKET,
        "kind": "ResetConfiguration",
        "timeouts": default_timeouts(),
    });
    crate::kubeadm::yaml::to_yaml(&document)
}

/// `kubeadm config print join-defaults`: kubeadm's defaulted v1beta4 JoinConfiguration with its
/// placeholders (endpoint `kube-apiserver:6443`, token abcdef.0123456789abcdef) and this node's
/// name (`hostname`), as kubeadm prints it (the same for every release from v1.31 on).
pub fn join_defaults_yaml(hostname: &str) -> String {
    let token = "abcdef.0123456789abcdef";
    let document = serde_json::json!({
        "apiVersion": API_VERSION_V1BETA4,
        "caCertPath": format!("{}/ca.crt", defaults::CERTIFICATES_DIR),
        "discovery": {
            "bootstrapToken": { "apiServerEndpoint": "kube-apiserver:6443", "token": token, "unsafeSkipCAVerification": true },
            "tlsBootstrapToken": token,
        },
        "kind": "JoinConfiguration",
        "nodeRegistration": {
            "criSocket": defaults::CRI_SOCKET,
            "imagePullPolicy": defaults::IMAGE_PULL_POLICY,
            "imagePullSerial": true,
            "name": hostname,
            "taints": null,
        },
        "timeouts": default_timeouts(),
    });
    crate::kubeadm::yaml::to_yaml(&document)
}
