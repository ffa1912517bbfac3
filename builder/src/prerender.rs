//! The configs shipped in a bundle's `configs/` (pure: inputs in, bytes out).
//!
//! - `configs/kubeadm-config.yaml`: kubeadm v1beta4 `InitConfiguration` + `ClusterConfiguration`
//!   naming exactly the bundle's images, so even a stock `kubeadm init --config` finds them all
//!   locally. Node-specific values are left for the installer.
//! - `configs/containerd/v2/airadm.toml` (containerd 1.6/1.7, config version 2) and
//!   `configs/containerd/v3/airadm.toml` (containerd 2.x, config version 3): drop-ins setting the
//!   CRI sandbox (pause) image to the bundle's, so the runtime never pulls its own default.
//! - `configs/crio/10-airadm.conf`: the same for CRI-O (`[crio.image] pause_image`).

use bundle::kubeadm::{self, ClusterConfiguration, Dns, Etcd, InitConfiguration, LocalEtcd, NodeRegistrationOptions};

/// What the configs are rendered from.
#[derive(Debug, Clone)]
pub struct ConfigInputs<'a> {
    /// `v1.31.2`.
    pub kubernetes_version: &'a str,
    /// kubeadm's `imageRepository`.
    pub image_repository: &'a str,
    /// The etcd image tag in the bundle.
    pub etcd_tag: &'a str,
    /// The CoreDNS image tag in the bundle.
    pub coredns_tag: &'a str,
    /// The full pause image reference in the bundle.
    pub pause_image: &'a str,
}

/// A rendered config: its path in the bundle and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedConfig {
    /// Path below the bundle root (`configs/…`).
    pub path: &'static str,
    /// Contents.
    pub contents: Vec<u8>,
}

/// Renders every config, sorted by path.
pub fn render(inputs: &ConfigInputs<'_>) -> Result<Vec<RenderedConfig>, serde_saphyr::ser::Error> {
    let mut configs = vec![
        RenderedConfig { path: "configs/containerd/v2/airadm.toml", contents: containerd_v2(inputs.pause_image).into_bytes() },
        RenderedConfig { path: "configs/containerd/v3/airadm.toml", contents: containerd_v3(inputs.pause_image).into_bytes() },
        RenderedConfig { path: "configs/crio/10-airadm.conf", contents: crio(inputs.pause_image).into_bytes() },
        RenderedConfig { path: "configs/kubeadm-config.yaml", contents: kubeadm_config(inputs)?.into_bytes() },
    ];
    configs.sort_by_key(|c| c.path);
    Ok(configs)
}

fn kubeadm_config(inputs: &ConfigInputs<'_>) -> Result<String, serde_saphyr::ser::Error> {
    let init = InitConfiguration {
        api_version: kubeadm::API_VERSION_V1BETA4.into(),
        kind: "InitConfiguration".into(),
        node_registration: Some(NodeRegistrationOptions { image_pull_policy: Some("IfNotPresent".into()), ..Default::default() }),
        ..Default::default()
    };
    let cluster = ClusterConfiguration {
        api_version: kubeadm::API_VERSION_V1BETA4.into(),
        kind: "ClusterConfiguration".into(),
        kubernetes_version: Some(inputs.kubernetes_version.into()),
        image_repository: Some(inputs.image_repository.into()),
        etcd: Some(Etcd { local: Some(LocalEtcd { image_tag: Some(inputs.etcd_tag.into()), ..Default::default() }), external: None }),
        dns: Some(Dns { image_tag: Some(inputs.coredns_tag.into()), ..Default::default() }),
        ..Default::default()
    };
    let header = format!(
        "# kubeadm configuration for the images of this bundle ({}); node-specific values are\n# filled in by `airadm init`. Also usable with a stock `kubeadm init --config`.\n",
        inputs.kubernetes_version
    );
    Ok(header + &kubeadm::to_multi_document_yaml(&[&init, &cluster])?)
}

fn containerd_v2(pause: &str) -> String {
    format!(
        "# airadm: use this bundle's pause image as the CRI sandbox image (containerd 1.6/1.7).\n\
         # Install as an imported file, e.g. /etc/containerd/conf.d/airadm.toml.\n\
         version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = {}\n",
        toml_string(pause)
    )
}

fn containerd_v3(pause: &str) -> String {
    format!(
        "# airadm: use this bundle's pause image as the CRI sandbox image (containerd 2.x).\n\
         # Install as /etc/containerd/conf.d/airadm.toml (imported by containerd 2's default config).\n\
         version = 3\n\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = {}\n",
        toml_string(pause)
    )
}

fn crio(pause: &str) -> String {
    format!(
        "# airadm: use this bundle's pause image as CRI-O's pause image.\n\
         # Install as /etc/crio/crio.conf.d/10-airadm.conf.\n\
         [crio.image]\npause_image = {}\n",
        toml_string(pause)
    )
}

/// A TOML basic string (image references never need more than quote/backslash escaping).
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> ConfigInputs<'static> {
        ConfigInputs {
            kubernetes_version: "v1.31.2",
            image_repository: "registry.k8s.io",
            etcd_tag: "3.5.15-0",
            coredns_tag: "v1.11.3",
            pause_image: "registry.k8s.io/pause:3.10",
        }
    }

    #[test]
    fn kubeadm_config_names_the_bundle_images() {
        let text = kubeadm_config(&inputs()).unwrap();
        let expected = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  imagePullPolicy: IfNotPresent
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
etcd:
  local:
    imageTag: 3.5.15-0
kubernetesVersion: v1.31.2
dns:
  imageTag: v1.11.3
imageRepository: registry.k8s.io
";
        assert!(text.ends_with(expected), "{text}");
    }

    #[test]
    fn drop_ins_set_the_pause_image() {
        let configs = render(&inputs()).unwrap();
        let paths: Vec<&str> = configs.iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            [
                "configs/containerd/v2/airadm.toml",
                "configs/containerd/v3/airadm.toml",
                "configs/crio/10-airadm.conf",
                "configs/kubeadm-config.yaml"
            ]
        );
        let text = |i: usize| String::from_utf8(configs[i].contents.clone()).unwrap();
        assert!(text(0).contains("sandbox_image = \"registry.k8s.io/pause:3.10\""));
        assert!(text(1).contains("[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"registry.k8s.io/pause:3.10\""));
        assert!(text(2).contains("[crio.image]\npause_image = \"registry.k8s.io/pause:3.10\""));
    }
}
