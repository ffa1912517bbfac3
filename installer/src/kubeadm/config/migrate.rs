//! `kubeadm config migrate` (util/config/common.go `MigrateOldConfig`): the documents of a file
//! (v1beta3 or v1beta4) read, defaulted as kubeadm defaults them when it loads them (static and
//! dynamic defaults: this node's name, address and CRI socket, a generated bootstrap token) and
//! written out as v1beta4: InitConfiguration with its ClusterConfiguration, then
//! JoinConfiguration, then ResetConfiguration; component configurations are left out. Pure.

use serde_json::{Value, json};

use super::{
    ComponentImages, ConfigError, Documents, HostFacts, InitFlags, JoinFlags, ResetFlags, Version, defaults, invalid, resolve,
    resolve_join, resolve_reset,
};
use crate::kubeadm::skeleton::{self, Kind};
use crate::kubeadm::yaml::to_yaml;
use bundle::kubeadm::API_VERSION_V1BETA4;

/// The migrated file. `version` and `images` stand for what the InitConfiguration would deploy
/// (the bundle's, or the file's own kubernetesVersion).
pub fn migrate(docs: &Documents, host: &HostFacts, version: &Version, images: ComponentImages) -> Result<String, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    if docs.init.is_some() || docs.cluster.is_some() {
        let given = Documents { init: docs.init.clone(), cluster: docs.cluster.clone(), ..Default::default() };
        let cfg = resolve(given, &InitFlags::default(), host, version, images)?;
        let mut init = to_value(&docs.init.clone().unwrap_or_default())?;
        init["apiVersion"] = API_VERSION_V1BETA4.into();
        init["kind"] = "InitConfiguration".into();
        init["bootstrapTokens"] = to_value(&cfg.bootstrap_tokens)?;
        init["localAPIEndpoint"] = json!({ "advertiseAddress": cfg.advertise_address.to_string(), "bindPort": cfg.bind_port });
        let node = init
            .as_object_mut()
            .map(|m| m.entry("nodeRegistration").or_insert_with(|| json!({})))
            .ok_or_else(|| not_a_map("InitConfiguration"))?;
        node["criSocket"] = cfg.cri_socket.clone().into();
        node["name"] = cfg.node_name.clone().into();
        node["taints"] = to_value(&cfg.taints)?;
        node_defaults(node);
        timeouts(&mut init, docs.v1beta3_control_plane_timeout.as_deref());
        let cluster = skeleton::dress(version.minor, Kind::ClusterConfiguration, &to_value(&cfg.cluster_document)?);
        out.push(to_yaml(&init));
        out.push(to_yaml(&cluster));
    }
    if let Some(join) = &docs.join {
        let cfg = resolve_join(Some(join.clone()), &JoinFlags::default(), host)?;
        let mut doc = to_value(join)?;
        doc["apiVersion"] = API_VERSION_V1BETA4.into();
        doc["kind"] = "JoinConfiguration".into();
        doc["caCertPath"] = cfg.ca_cert_path.clone().into();
        if let Some(token) = &cfg.tls_bootstrap_token {
            doc["discovery"]["tlsBootstrapToken"] = token.clone().into();
        }
        let node = doc
            .as_object_mut()
            .map(|m| m.entry("nodeRegistration").or_insert_with(|| json!({})))
            .ok_or_else(|| not_a_map("JoinConfiguration"))?;
        node["criSocket"] = cfg.cri_socket.clone().into();
        node["name"] = cfg.node_name.clone().into();
        // A worker's taints stay nil unless given; a control plane gets kubeadm's.
        node["taints"] = if cfg.control_plane.is_some() || join.node_registration.as_ref().is_some_and(|n| n.taints.is_some()) {
            to_value(&cfg.node_registration.taints)?
        } else {
            Value::Null
        };
        node_defaults(node);
        if let Some(cp) = &cfg.control_plane {
            let address = cp.local_api_endpoint.advertise_address.clone().or_else(|| host.default_address.map(|a| a.to_string()));
            doc["controlPlane"]["localAPIEndpoint"] =
                json!({ "advertiseAddress": address, "bindPort": cp.local_api_endpoint.bind_port.unwrap_or(defaults::BIND_PORT) });
        }
        timeouts(&mut doc, docs.v1beta3_control_plane_timeout.as_deref());
        out.push(to_yaml(&doc));
    }
    if let Some(reset) = &docs.reset {
        let facts = super::ClusterFacts { cri_socket: host.cri_socket.clone(), ..Default::default() };
        let cfg = resolve_reset(Some(reset.clone()), &ResetFlags::default(), &facts)?;
        let mut doc = to_value(reset)?;
        doc["apiVersion"] = API_VERSION_V1BETA4.into();
        doc["kind"] = "ResetConfiguration".into();
        doc["certificatesDir"] = cfg.certificates_dir.clone().into();
        doc["criSocket"] = cfg.cri_socket.clone().unwrap_or_else(|| defaults::CRI_SOCKET.into()).into();
        timeouts(&mut doc, None);
        out.push(to_yaml(&doc));
    }
    if out.is_empty() {
        return Err(invalid(
            "the file holds no kubeadm configuration (InitConfiguration, ClusterConfiguration, JoinConfiguration, ResetConfiguration) to migrate",
        ));
    }
    Ok(out.join("---\n"))
}

fn to_value(value: &impl serde::Serialize) -> Result<Value, ConfigError> {
    serde_json::to_value(value).map_err(|e| invalid(e.to_string()))
}

fn not_a_map(kind: &str) -> ConfigError {
    invalid(format!("{kind} is not a mapping"))
}

/// `SetDefaults_NodeRegistration`'s static part.
fn node_defaults(node: &mut Value) {
    if node.get("imagePullPolicy").is_none() {
        node["imagePullPolicy"] = defaults::IMAGE_PULL_POLICY.into();
    }
    if node.get("imagePullSerial").is_none() {
        node["imagePullSerial"] = true.into();
    }
}

/// `SetDefaults_Timeouts`: each timeout not given gets kubeadm's; then v1beta3's control-plane
/// timeout when the file had one.
fn timeouts(doc: &mut Value, v1beta3_control_plane: Option<&str>) {
    let mut all = super::init_defaults::default_timeouts();
    if let (Some(given), Some(all)) = (doc.get("timeouts").and_then(Value::as_object), all.as_object_mut()) {
        for (key, value) in given {
            all.insert(key.clone(), value.clone());
        }
    }
    if let Some(timeout) = v1beta3_control_plane {
        all["controlPlaneComponentHealthCheck"] = timeout.into();
    }
    doc["timeouts"] = all;
}
