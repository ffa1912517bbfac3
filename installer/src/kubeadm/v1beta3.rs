//! kubeadm's `kubeadm.k8s.io/v1beta3` config, read and converted to v1beta4 as `kubeadm config
//! migrate` does: `extraArgs` maps become name-sorted `{name, value}` lists, and
//! `apiServer.timeoutForControlPlane` becomes `timeouts.controlPlaneComponentHealthCheck`.
//! v1beta3 has no `timeouts`, `encryptionAlgorithm`, validity periods, `extraEnvs`, `dryRun`,
//! `imagePullSerial`, `dns.disabled` or `proxy.disabled`: those are refused as unknown fields.

use std::collections::BTreeMap;

use bundle::kubeadm as v4;
use serde::Deserialize;

type ExtraArgs = Option<BTreeMap<String, String>>;

fn args(map: ExtraArgs) -> Option<Vec<v4::Arg>> {
    map.map(|m| m.into_iter().map(|(name, value)| v4::Arg { name, value }).collect())
}

/// v1beta3 `InitConfiguration`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitConfiguration {
    api_version: String,
    kind: String,
    #[serde(default)]
    bootstrap_tokens: Option<Vec<v4::BootstrapToken>>,
    #[serde(default)]
    node_registration: Option<NodeRegistrationOptions>,
    #[serde(default, rename = "localAPIEndpoint")]
    local_api_endpoint: Option<v4::ApiEndpoint>,
    #[serde(default)]
    certificate_key: Option<String>,
    #[serde(default)]
    skip_phases: Option<Vec<String>>,
    #[serde(default)]
    patches: Option<v4::Patches>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NodeRegistrationOptions {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cri_socket: Option<String>,
    #[serde(default)]
    taints: Option<Vec<v4::Taint>>,
    #[serde(default)]
    kubelet_extra_args: ExtraArgs,
    #[serde(default)]
    ignore_preflight_errors: Option<Vec<String>>,
    #[serde(default)]
    image_pull_policy: Option<String>,
}

impl From<NodeRegistrationOptions> for v4::NodeRegistrationOptions {
    fn from(n: NodeRegistrationOptions) -> Self {
        Self {
            name: n.name,
            cri_socket: n.cri_socket,
            taints: n.taints,
            kubelet_extra_args: args(n.kubelet_extra_args),
            ignore_preflight_errors: n.ignore_preflight_errors,
            image_pull_policy: n.image_pull_policy,
            image_pull_serial: None,
        }
    }
}

impl From<InitConfiguration> for v4::InitConfiguration {
    fn from(i: InitConfiguration) -> Self {
        let _ = (i.api_version, i.kind);
        Self {
            api_version: v4::API_VERSION_V1BETA4.into(),
            kind: "InitConfiguration".into(),
            bootstrap_tokens: i.bootstrap_tokens,
            dry_run: None,
            node_registration: i.node_registration.map(Into::into),
            local_api_endpoint: i.local_api_endpoint,
            certificate_key: i.certificate_key,
            skip_phases: i.skip_phases,
            patches: i.patches,
            timeouts: None,
        }
    }
}

/// v1beta3 `ClusterConfiguration`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterConfiguration {
    api_version: String,
    kind: String,
    #[serde(default)]
    etcd: Option<Etcd>,
    #[serde(default)]
    networking: Option<v4::Networking>,
    #[serde(default)]
    kubernetes_version: Option<String>,
    #[serde(default)]
    control_plane_endpoint: Option<String>,
    #[serde(default)]
    api_server: Option<ApiServer>,
    #[serde(default)]
    controller_manager: Option<ControlPlaneComponent>,
    #[serde(default)]
    scheduler: Option<ControlPlaneComponent>,
    #[serde(default)]
    dns: Option<Dns>,
    #[serde(default)]
    certificates_dir: Option<String>,
    #[serde(default)]
    image_repository: Option<String>,
    #[serde(default)]
    feature_gates: Option<BTreeMap<String, bool>>,
    #[serde(default)]
    cluster_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ControlPlaneComponent {
    #[serde(default)]
    extra_args: ExtraArgs,
    #[serde(default)]
    extra_volumes: Option<Vec<v4::HostPathMount>>,
}

impl From<ControlPlaneComponent> for v4::ControlPlaneComponent {
    fn from(c: ControlPlaneComponent) -> Self {
        Self { extra_args: args(c.extra_args), extra_volumes: c.extra_volumes, extra_envs: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ApiServer {
    #[serde(default)]
    extra_args: ExtraArgs,
    #[serde(default)]
    extra_volumes: Option<Vec<v4::HostPathMount>>,
    #[serde(default, rename = "certSANs")]
    cert_sans: Option<Vec<String>>,
    #[serde(default)]
    timeout_for_control_plane: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Dns {
    #[serde(default)]
    image_repository: Option<String>,
    #[serde(default)]
    image_tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Etcd {
    #[serde(default)]
    local: Option<LocalEtcd>,
    #[serde(default)]
    external: Option<v4::ExternalEtcd>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocalEtcd {
    #[serde(default)]
    image_repository: Option<String>,
    #[serde(default)]
    image_tag: Option<String>,
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    extra_args: ExtraArgs,
    #[serde(default, rename = "serverCertSANs")]
    server_cert_sans: Option<Vec<String>>,
    #[serde(default, rename = "peerCertSANs")]
    peer_cert_sans: Option<Vec<String>>,
}

impl ClusterConfiguration {
    /// The v1beta4 form, and v1beta3's `apiServer.timeoutForControlPlane` (which v1beta4 keeps
    /// in `InitConfiguration.timeouts`).
    pub fn convert(self) -> (v4::ClusterConfiguration, Option<String>) {
        let _ = (self.api_version, self.kind);
        let timeout = self.api_server.as_ref().and_then(|a| a.timeout_for_control_plane.clone());
        let cluster = v4::ClusterConfiguration {
            api_version: v4::API_VERSION_V1BETA4.into(),
            kind: "ClusterConfiguration".into(),
            etcd: self.etcd.map(|e| v4::Etcd {
                local: e.local.map(|l| v4::LocalEtcd {
                    image_repository: l.image_repository,
                    image_tag: l.image_tag,
                    data_dir: l.data_dir,
                    extra_args: args(l.extra_args),
                    extra_envs: None,
                    server_cert_sans: l.server_cert_sans,
                    peer_cert_sans: l.peer_cert_sans,
                }),
                external: e.external,
            }),
            networking: self.networking,
            kubernetes_version: self.kubernetes_version,
            control_plane_endpoint: self.control_plane_endpoint,
            api_server: self.api_server.map(|a| v4::ApiServer {
                extra_args: args(a.extra_args),
                extra_volumes: a.extra_volumes,
                extra_envs: None,
                cert_sans: a.cert_sans,
            }),
            controller_manager: self.controller_manager.map(Into::into),
            scheduler: self.scheduler.map(Into::into),
            dns: self.dns.map(|d| v4::Dns { image_repository: d.image_repository, image_tag: d.image_tag, disabled: None }),
            proxy: None,
            certificates_dir: self.certificates_dir,
            image_repository: self.image_repository,
            feature_gates: self.feature_gates,
            cluster_name: self.cluster_name,
            encryption_algorithm: None,
            certificate_validity_period: None,
            ca_certificate_validity_period: None,
        };
        (cluster, timeout)
    }
}

/// v1beta3 `JoinConfiguration`: `discovery.timeout` becomes `timeouts.discovery`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JoinConfiguration {
    api_version: String,
    kind: String,
    #[serde(default)]
    node_registration: Option<NodeRegistrationOptions>,
    #[serde(default, rename = "caCertPath")]
    ca_cert_path: Option<String>,
    #[serde(default)]
    discovery: Option<Discovery>,
    #[serde(default)]
    control_plane: Option<v4::JoinControlPlane>,
    #[serde(default)]
    skip_phases: Option<Vec<String>>,
    #[serde(default)]
    patches: Option<v4::Patches>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Discovery {
    #[serde(default)]
    bootstrap_token: Option<v4::BootstrapTokenDiscovery>,
    #[serde(default)]
    file: Option<v4::FileDiscovery>,
    #[serde(default, rename = "tlsBootstrapToken")]
    tls_bootstrap_token: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
}

impl From<JoinConfiguration> for v4::JoinConfiguration {
    fn from(j: JoinConfiguration) -> Self {
        let _ = (j.api_version, j.kind);
        let (discovery, timeout) = match j.discovery {
            Some(d) => (
                Some(v4::Discovery { bootstrap_token: d.bootstrap_token, file: d.file, tls_bootstrap_token: d.tls_bootstrap_token }),
                d.timeout,
            ),
            None => (None, None),
        };
        Self {
            api_version: v4::API_VERSION_V1BETA4.into(),
            kind: "JoinConfiguration".into(),
            dry_run: None,
            node_registration: j.node_registration.map(Into::into),
            ca_cert_path: j.ca_cert_path,
            discovery,
            control_plane: j.control_plane,
            skip_phases: j.skip_phases,
            patches: j.patches,
            timeouts: timeout.map(|t| v4::Timeouts { discovery: Some(t), ..Default::default() }),
        }
    }
}
