//! How kubeadm's Go types marshal: kubeadm decodes a component configuration into its typed
//! struct and marshals that, so the document it writes (the `kubeadm-config`, `kubelet-config`
//! and `kube-proxy` ConfigMaps, `/var/lib/kubelet/config.yaml`) also carries every field Go writes
//! without `omitempty`, at its zero value (`mode: ""`, `conntrack.maxPerCore: null`,
//! `apiServer: {}`). `manifests/skeletons/v1.MINOR.json` holds those zero values per minor, as
//! kubeadm's own types of that release print them (`tests/reference/skeleton/skeleton.go`; a test
//! regenerates them from the reference module and compares). Pure: documents in, documents out.

use serde_json::Value;

/// The skeleton files, by minor.
const FILES: &[(u32, &str)] = &[
    (31, include_str!("../../../manifests/skeletons/v1.31.json")),
    (32, include_str!("../../../manifests/skeletons/v1.32.json")),
    (33, include_str!("../../../manifests/skeletons/v1.33.json")),
    (34, include_str!("../../../manifests/skeletons/v1.34.json")),
    (35, include_str!("../../../manifests/skeletons/v1.35.json")),
    (36, include_str!("../../../manifests/skeletons/v1.36.json")),
    (37, include_str!("../../../manifests/skeletons/v1.37.json")),
];

/// The component configurations a skeleton describes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// kubeadm.k8s.io/v1beta4 ClusterConfiguration.
    ClusterConfiguration,
    /// kubelet.config.k8s.io/v1beta1 KubeletConfiguration.
    KubeletConfiguration,
    /// kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration.
    KubeProxyConfiguration,
}

/// `document` as kubeadm of minor `1.MINOR` writes it: over the zero-valued fields of its type.
/// A minor without a skeleton (newer than this airadm) gets the nearest older one.
pub fn dress(minor: u32, kind: Kind, document: &Value) -> Value {
    // Parsed once per process; the files are compiled in and checked by the tests below.
    static PARSED: std::sync::OnceLock<Vec<(u32, Value)>> = std::sync::OnceLock::new();
    let parsed = PARSED.get_or_init(|| FILES.iter().map(|(m, text)| (*m, serde_json::from_str(text).unwrap_or_default())).collect());
    let skeletons = parsed.iter().rev().find(|(m, _)| *m <= minor).or(parsed.first()).map(|(_, v)| v);
    let skeleton = skeletons.and_then(|s| s.get(format!("{kind:?}"))).cloned().unwrap_or(Value::Null);
    merge(skeleton, document)
}

/// `over` on top of `base`: mappings merged key by key, anything else taken from `over`.
fn merge(base: Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(mut base), Value::Object(over)) => {
            for (key, value) in over {
                let merged = merge(base.remove(key).unwrap_or(Value::Null), value);
                base.insert(key.clone(), merged);
            }
            Value::Object(base)
        }
        (_, over) => over.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{FILES, Kind, dress};

    #[test]
    fn every_skeleton_parses_and_describes_the_three_kinds() {
        for (minor, text) in FILES {
            let skeletons: serde_json::Value = serde_json::from_str(text).unwrap();
            for kind in ["ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"] {
                assert!(skeletons[kind].is_object(), "v1.{minor}: {kind}");
            }
        }
    }

    #[test]
    fn values_go_over_the_zero_values_and_nested_mappings_merge() {
        let proxy = dress(34, Kind::KubeProxyConfiguration, &json!({"mode": "ipvs", "clientConnection": {"kubeconfig": "/k"}}));
        assert_eq!(proxy["mode"], "ipvs");
        assert_eq!(proxy["clientConnection"]["kubeconfig"], "/k");
        assert_eq!(proxy["clientConnection"]["qps"], 0, "a zero value Go writes");
        assert_eq!(proxy["conntrack"]["maxPerCore"], serde_json::Value::Null);
        let cluster = dress(34, Kind::ClusterConfiguration, &json!({"kubernetesVersion": "v1.34.4"}));
        assert_eq!(cluster["apiServer"], json!({}));
        assert_eq!(cluster["kubernetesVersion"], "v1.34.4");
        // A minor newer than the newest skeleton takes the newest.
        assert_eq!(dress(99, Kind::ClusterConfiguration, &json!({})), dress(37, Kind::ClusterConfiguration, &json!({})));
    }
}
