//! `show-join-command` phase (kubeadm: cmd/kubeadm/app/cmd/phases/init/showjoincommand.go):
//! kubeadm's closing message, how to use the cluster and the join commands, which name airadm
//! and the bundle the joining node needs.

use anyhow::Context as _;

use super::InitData;
use crate::kubeadm::api;
use crate::kubeadm::config::InitConfig;
use crate::kubeadm::files::Root;
use crate::phases::client::read_node_file;
use crate::workflow::{Phase, ready};

pub(super) fn phase() -> Phase<InitData> {
    super::api("show-join-command", Phase::new("show-join-command", "Show the join command for control-plane and worker node"))
        .dependencies(&["bootstrap-token", "upload-certs"])
        .run(|data: &mut InitData| {
            let bundle = data.bundle.manifest.file_name();
            ready(join_message(&data.cfg, &data.root, data.certificate_key.as_deref(), &bundle).and_then(|lines| data.say(lines)))
        })
}

/// The token the join command prints (kubeadm: `cfg.BootstrapTokens[0].Token`); never empty.
fn join_token(cfg: &InitConfig) -> anyhow::Result<&str> {
    cfg.bootstrap_tokens
        .first()
        .and_then(|t| t.token.as_deref())
        .filter(|t| !t.is_empty())
        .context("no bootstrap token to print in the join command: give one in bootstrapTokens or with --token")
}

/// kubeadm's closing message: how to use the cluster and how to join nodes to it.
fn join_message(cfg: &InitConfig, root: &Root, certificate_key: Option<&str>, bundle: &str) -> anyhow::Result<Vec<String>> {
    let ca = read_node_file(root, &cfg.cert_path("ca.crt"))?;
    let hashes = vec![api::ca_cert_hash(&ca)?];
    let token = join_token(cfg)?;
    let endpoint = cfg.control_plane_url();
    let mut lines = vec![
        "\nYour Kubernetes control-plane has initialized successfully!\n".to_owned(),
        "To start using your cluster, you need to run the following as a regular user:\n".to_owned(),
        "  mkdir -p $HOME/.kube".to_owned(),
        "  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config".to_owned(),
        "  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n".to_owned(),
        "Alternatively, if you are the root user, you can run:\n".to_owned(),
        "  export KUBECONFIG=/etc/kubernetes/admin.conf\n".to_owned(),
        "You should now deploy a pod network to the cluster.".to_owned(),
        "Run \"kubectl apply -f [podnetwork].yaml\" with one of the options listed at:".to_owned(),
        "  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n".to_owned(),
    ];
    if cfg.control_plane_endpoint.is_some() {
        lines.push("You can now join any number of control-plane nodes by copying certificate authorities".to_owned());
        lines.push("and service account keys on each node and then running the following as root:\n".to_owned());
        lines.push(format!(
            "  {}\n",
            api::join_command("airadm", &endpoint, token, &hashes, Some(bundle), api::JoinAs::ControlPlane(certificate_key))
        ));
    }
    lines.push("Then you can join any number of worker nodes by running the following on each as root:\n".to_owned());
    lines.push(api::join_command("airadm", &endpoint, token, &hashes, Some(bundle), api::JoinAs::Worker));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags, Version};

    #[test]
    fn the_join_command_never_prints_an_empty_token() {
        let host = HostFacts { hostname: "n".into(), default_address: Some("10.0.0.1".parse().unwrap()), cri_socket: None };
        let flags = InitFlags { token: Some("abcdef.0123456789abcdef".into()), ..InitFlags::default() };
        let version = Version::parse("v1.31.2").unwrap();
        let docs = config::Documents::default();
        let mut cfg = config::resolve(docs, &flags, &host, &version, ComponentImages::default()).unwrap();
        assert_eq!(join_token(&cfg).unwrap(), "abcdef.0123456789abcdef");
        cfg.bootstrap_tokens[0].token = Some(String::new());
        let err = join_token(&cfg).unwrap_err().to_string();
        assert_eq!(err, "no bootstrap token to print in the join command: give one in bootstrapTokens or with --token");
        cfg.bootstrap_tokens.clear();
        assert!(join_token(&cfg).is_err());
    }
}
