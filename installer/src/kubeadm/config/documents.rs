//! Decoding a kubeadm config file: the YAML documents split, each decoded strictly by its
//! `apiVersion` and `kind` (v1beta3 converted to v1beta4), errors on the line of the whole file.

use bundle::kubeadm::{
    API_VERSION_V1BETA3, API_VERSION_V1BETA4, ClusterConfiguration, InitConfiguration, JoinConfiguration, ResetConfiguration, Timeouts,
};

use super::ConfigError;
use crate::kubeadm::v1beta3;

/// One decoded document, with where it came from.
#[derive(Debug, Default)]
pub struct Documents {
    /// `InitConfiguration`, converted to v1beta4.
    pub init: Option<InitConfiguration>,
    /// `ClusterConfiguration`, converted to v1beta4.
    pub cluster: Option<ClusterConfiguration>,
    /// `JoinConfiguration`, converted to v1beta4.
    pub join: Option<JoinConfiguration>,
    /// `ResetConfiguration` (v1beta4 only; init and join ignore it).
    pub reset: Option<ResetConfiguration>,
    /// `KubeletConfiguration`.
    pub kubelet: Option<serde_json::Value>,
    /// `KubeProxyConfiguration`.
    pub kube_proxy: Option<serde_json::Value>,
    /// A v1beta3 ClusterConfiguration's `apiServer.timeoutForControlPlane`: kubeadm keeps it for
    /// the process and writes it into every v1beta4 Init and JoinConfiguration it marshals
    /// (`GetConversionTimeoutControlPlane`), which `config migrate` shows.
    pub v1beta3_control_plane_timeout: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeMeta {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

/// Decodes a kubeadm config file (`file` names it in errors): strictly, as kubeadm does.
pub fn parse_documents(text: &str, file: &str) -> Result<Documents, ConfigError> {
    let mut docs = Documents::default();
    let mut control_plane_timeout = None;
    for (first_line, doc) in split_documents(text) {
        if doc.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            continue;
        }
        let decode_error = |e: serde_saphyr::Error| decode_error(&e.to_string(), file, first_line);
        let meta: TypeMeta = serde_saphyr::from_str(doc).map_err(decode_error)?;
        let at = |message: String| ConfigError::Decode { file: file.to_owned(), line: first_line, message };
        match (meta.api_version.as_str(), meta.kind.as_str()) {
            (API_VERSION_V1BETA4, "InitConfiguration") => {
                set_once(&mut docs.init, serde_saphyr::from_str(doc).map_err(decode_error)?, "InitConfiguration", &at)?
            }
            (API_VERSION_V1BETA4, "ClusterConfiguration") => {
                set_once(&mut docs.cluster, serde_saphyr::from_str(doc).map_err(decode_error)?, "ClusterConfiguration", &at)?
            }
            (API_VERSION_V1BETA3, "InitConfiguration") => {
                let old: v1beta3::InitConfiguration = serde_saphyr::from_str(doc).map_err(decode_error)?;
                set_once(&mut docs.init, old.into(), "InitConfiguration", &at)?
            }
            (API_VERSION_V1BETA3, "ClusterConfiguration") => {
                let old: v1beta3::ClusterConfiguration = serde_saphyr::from_str(doc).map_err(decode_error)?;
                let (cluster, timeout) = old.convert();
                set_once(&mut docs.cluster, cluster, "ClusterConfiguration", &at)?;
                control_plane_timeout = timeout;
            }
            ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration") => {
                set_once(&mut docs.kubelet, serde_saphyr::from_str(doc).map_err(decode_error)?, "KubeletConfiguration", &at)?
            }
            ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration") => {
                set_once(&mut docs.kube_proxy, serde_saphyr::from_str(doc).map_err(decode_error)?, "KubeProxyConfiguration", &at)?
            }
            (API_VERSION_V1BETA4, "JoinConfiguration") => {
                set_once(&mut docs.join, serde_saphyr::from_str(doc).map_err(decode_error)?, "JoinConfiguration", &at)?
            }
            (API_VERSION_V1BETA3, "JoinConfiguration") => {
                let old: v1beta3::JoinConfiguration = serde_saphyr::from_str(doc).map_err(decode_error)?;
                set_once(&mut docs.join, old.into(), "JoinConfiguration", &at)?
            }
            (API_VERSION_V1BETA4, "ResetConfiguration") => {
                set_once(&mut docs.reset, serde_saphyr::from_str(doc).map_err(decode_error)?, "ResetConfiguration", &at)?
            }
            (API_VERSION_V1BETA4, "UpgradeConfiguration") => {
                tracing::warn!("{file}:{first_line}: {} is not used by airadm; ignored", meta.kind);
            }
            (api_version, kind) if api_version.starts_with("kubeadm.k8s.io/") => {
                return Err(at(format!(
                    "{kind} of {api_version} is not supported: use kubeadm.k8s.io/v1beta4 (or v1beta3) InitConfiguration/ClusterConfiguration"
                )));
            }
            ("", _) | (_, "") => return Err(at("document without apiVersion and kind".into())),
            (api_version, kind) => {
                return Err(at(format!(
                    "unknown document {api_version}, Kind={kind}: expected kubeadm.k8s.io/v1beta4 InitConfiguration or ClusterConfiguration, kubelet.config.k8s.io/v1beta1 KubeletConfiguration or kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration"
                )));
            }
        }
    }
    docs.v1beta3_control_plane_timeout.clone_from(&control_plane_timeout);
    if let Some(timeout) = control_plane_timeout {
        // v1beta3's apiServer.timeoutForControlPlane lives in InitConfiguration.timeouts now.
        let init = docs.init.get_or_insert_with(|| InitConfiguration {
            api_version: API_VERSION_V1BETA4.into(),
            kind: "InitConfiguration".into(),
            ..Default::default()
        });
        init.timeouts.get_or_insert_with(Timeouts::default).control_plane_component_health_check.get_or_insert(timeout);
    }
    Ok(docs)
}

fn set_once<T>(slot: &mut Option<T>, value: T, kind: &str, at: &dyn Fn(String) -> ConfigError) -> Result<(), ConfigError> {
    if slot.is_some() {
        return Err(at(format!("a second {kind} document: give each kind once")));
    }
    *slot = Some(value);
    Ok(())
}

/// The documents of a multi-document YAML text, each with its first line (1-based).
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut offset) = (0, 1, 0);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            docs.push((start_line, &text[start..offset]));
            start = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start..]));
    docs
}

/// serde-saphyr's `line N column M: message` moved to the line in the whole file.
fn decode_error(message: &str, file: &str, first_line: usize) -> ConfigError {
    let first = message.lines().next().unwrap_or(message).trim_start_matches("error: ");
    let parsed = first.strip_prefix("line ").and_then(|rest| {
        let (line, rest) = rest.split_once(' ')?;
        let (_, text) = rest.split_once(": ")?;
        Some((line.parse::<usize>().ok()?, text))
    });
    match parsed {
        Some((line, text)) => ConfigError::Decode { file: file.to_owned(), line: first_line + line - 1, message: text.to_owned() },
        None => ConfigError::Decode { file: file.to_owned(), line: first_line, message: first.to_owned() },
    }
}
