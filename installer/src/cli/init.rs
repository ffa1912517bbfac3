//! `airadm init [phase NAME [SUB]]`, with kubeadm's flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::init::InitOptions;
use crate::kubeadm::config::InitFlags;

/// `airadm init`.
#[derive(Debug, Args)]
pub struct InitCommand {
    /// Run one phase only.
    #[command(subcommand)]
    pub phase: Option<InitSubcommand>,
    /// kubeadm's flags and ours.
    #[command(flatten)]
    pub args: InitArgs,
}

/// `airadm init phase …`.
#[derive(Debug, Subcommand)]
pub enum InitSubcommand {
    /// Run one of init's phases: import, binaries, preflight, certs [SUB], kubeconfig [SUB], etcd local,
    /// control-plane [SUB], kubelet-start, ….
    Phase {
        /// The phase (`certs`, `kubeconfig`, `etcd`, `control-plane`, …).
        name: String,
        /// Its sub-phase (`apiserver`, `admin`, `local`, `all`, …).
        sub: Option<String>,
    },
}

/// Flags of `airadm init` (kubeadm's, plus --bundle, --trusted-key, --rootfs, --arch).
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The bundle: its signed manifest gives the version and images; `import` reads all of it.
    #[arg(long, global = true)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key", global = true)]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole bundle file (default: BUNDLE.minisig when present).
    #[arg(long, global = true)]
    pub signature: Option<PathBuf>,
    /// kubeadm config file (InitConfiguration, ClusterConfiguration v1beta3/v1beta4, KubeletConfiguration).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The IP address the API server advertises (default: the default route's).
    #[arg(long, global = true)]
    pub apiserver_advertise_address: Option<String>,
    /// Port the API server binds to.
    #[arg(long, global = true)]
    pub apiserver_bind_port: Option<u16>,
    /// Extra SANs of the API server certificate (IPs or DNS names).
    #[arg(long, global = true, value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// A stable endpoint for the control plane (`host[:port]`).
    #[arg(long, global = true)]
    pub control_plane_endpoint: Option<String>,
    /// Pod CIDR(s); sets the controller-manager's --cluster-cidr.
    #[arg(long, global = true)]
    pub pod_network_cidr: Option<String>,
    /// Service CIDR(s) (default 10.96.0.0/12).
    #[arg(long, global = true)]
    pub service_cidr: Option<String>,
    /// Service DNS domain (default cluster.local).
    #[arg(long, global = true)]
    pub service_dns_domain: Option<String>,
    /// Node name (default: the hostname).
    #[arg(long, global = true)]
    pub node_name: Option<String>,
    /// Where certificates go (default /etc/kubernetes/pki).
    #[arg(long, global = true)]
    pub cert_dir: Option<String>,
    /// CRI socket (default: the one of kubeadm's known sockets that exists).
    #[arg(long, global = true)]
    pub cri_socket: Option<String>,
    /// Preflight checks whose errors become warnings (`all`, or names like `NumCPU,Swap`).
    #[arg(long, global = true, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip (`import`, `certs`, `certs/etcd-ca`, `wait-control-plane`, …).
    #[arg(long, global = true, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Write everything to a temp dir and say what would be done; nothing on the node changes.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Directory of kubeadm patches (`target[suffix][+patchtype].{json,yaml}`).
    #[arg(long, global = true)]
    pub patches: Option<String>,
    /// Upload the control-plane certificates to the kubeadm-certs Secret.
    #[arg(long, global = true)]
    pub upload_certs: bool,
    /// Key for the kubeadm-certs Secret (64 hex characters).
    #[arg(long, global = true)]
    pub certificate_key: Option<String>,
    /// Bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`; default: generated).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Bootstrap token lifetime (`24h0m0s`).
    #[arg(long, global = true)]
    pub token_ttl: Option<String>,
    /// kubeadm feature gates (`Name=true,Other=false`).
    #[arg(long, global = true)]
    pub feature_gates: Option<String>,
    /// Must be the bundle's version when given.
    #[arg(long, global = true)]
    pub kubernetes_version: Option<String>,
    /// Write every file below this directory instead of `/`.
    #[arg(long, global = true)]
    pub rootfs: Option<PathBuf>,
    /// Accept a bundle for this architecture (default: this node's).
    #[arg(long, global = true)]
    pub arch: Option<String>,
    /// Where the `binaries` phase puts kubelet, kubectl, kubeadm, crictl and airadm (CNI plugins: /opt/cni/bin).
    #[arg(long, global = true, default_value = crate::binaries::DEFAULT_BIN_DIR)]
    pub bin_dir: String,
    /// Replace an existing binary that differs from the bundle's (otherwise it is kept and reported).
    #[arg(long, global = true)]
    pub force_binaries: bool,
}

/// The flags given that kubeadm refuses next to `--config`, sorted by name as pflag's `Visit`
/// lists them. kubeadm: cmd/kubeadm/app/apis/kubeadm/validation/validation.go
/// `ValidateMixedArguments`/`isAllowedFlag`: only `config`, `ignore-preflight-errors`, `dry-run`,
/// `kubeconfig`, `node-name`, `kubeconfig-dir`, `upload-certs`, `print-join-command`, `rootfs`,
/// `v`, `log-file` and `skip-*` may be mixed with it; every flag that sets a configuration field
/// may not. airadm's own flags (`--bundle`, `--trusted-key`, `--signature`, `--arch`) set none and are allowed.
/// The struct is taken apart field by field so that a new flag must be sorted here to compile.
pub fn mixed_with_config(args: &InitArgs) -> Vec<&'static str> {
    let InitArgs {
        bundle: _,
        trusted_keys: _,
        signature: _,
        config: _,
        apiserver_advertise_address,
        apiserver_bind_port,
        apiserver_cert_extra_sans,
        control_plane_endpoint,
        pod_network_cidr,
        service_cidr,
        service_dns_domain,
        node_name: _,
        cert_dir,
        cri_socket,
        ignore_preflight_errors: _,
        skip_phases: _,
        dry_run: _,
        patches,
        upload_certs: _,
        certificate_key,
        token,
        token_ttl,
        feature_gates,
        kubernetes_version,
        rootfs: _,
        arch: _,
        bin_dir: _,
        force_binaries: _,
    } = args;
    let mut given: Vec<&'static str> = [
        ("apiserver-advertise-address", apiserver_advertise_address.is_some()),
        ("apiserver-bind-port", apiserver_bind_port.is_some()),
        ("apiserver-cert-extra-sans", !apiserver_cert_extra_sans.is_empty()),
        ("control-plane-endpoint", control_plane_endpoint.is_some()),
        ("pod-network-cidr", pod_network_cidr.is_some()),
        ("service-cidr", service_cidr.is_some()),
        ("service-dns-domain", service_dns_domain.is_some()),
        ("cert-dir", cert_dir.is_some()),
        ("cri-socket", cri_socket.is_some()),
        ("patches", patches.is_some()),
        ("certificate-key", certificate_key.is_some()),
        ("token", token.is_some()),
        ("token-ttl", token_ttl.is_some()),
        ("feature-gates", feature_gates.is_some()),
        ("kubernetes-version", kubernetes_version.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    given.sort_unstable();
    given
}

impl InitCommand {
    /// The options of the init workflow.
    pub fn options(self) -> anyhow::Result<InitOptions> {
        let a = self.args;
        let mixed = mixed_with_config(&a);
        if a.config.is_some() && !mixed.is_empty() {
            // kubeadm's words, then where those settings go instead.
            anyhow::bail!("can not mix '--config' with arguments [{}]: set them in the --config file instead", mixed.join(" "));
        }
        let bundle = a.bundle.ok_or_else(|| anyhow::anyhow!("--bundle FILE is required: airadm takes the version and images from it"))?;
        let phase = self.phase.map(|InitSubcommand::Phase { name, sub }| match sub {
            Some(sub) => format!("{name}/{sub}"),
            None => name,
        });
        Ok(InitOptions {
            config: a.config,
            flags: InitFlags {
                advertise_address: a.apiserver_advertise_address,
                bind_port: a.apiserver_bind_port,
                cert_extra_sans: a.apiserver_cert_extra_sans,
                control_plane_endpoint: a.control_plane_endpoint,
                pod_network_cidr: a.pod_network_cidr,
                service_cidr: a.service_cidr,
                service_dns_domain: a.service_dns_domain,
                node_name: a.node_name,
                cert_dir: a.cert_dir,
                cri_socket: a.cri_socket,
                ignore_preflight_errors: a.ignore_preflight_errors,
                skip_phases: a.skip_phases,
                patches: a.patches,
                certificate_key: a.certificate_key,
                token: a.token,
                token_ttl: a.token_ttl,
                feature_gates: a.feature_gates,
            },
            kubernetes_version: a.kubernetes_version,
            bundle,
            trusted_keys: a.trusted_keys,
            signature: a.signature,
            rootfs: a.rootfs,
            dry_run: a.dry_run,
            upload_certs: a.upload_certs,
            arch: a.arch,
            bin_dir: a.bin_dir,
            force_binaries: a.force_binaries,
            phase,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    fn options(args: &[&str]) -> anyhow::Result<crate::init::InitOptions> {
        let cli = crate::cli::Cli::try_parse_from(["airadm", "init", "--bundle", "b.tar.zst"].iter().chain(args)).unwrap();
        match cli.command {
            crate::cli::Command::Init(command) => command.options(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_that_set_config_fields_are_refused_next_to_config_as_kubeadm_does() {
        let refused: &[(&[&str], &str)] = &[
            (&["--pod-network-cidr=10.244.0.0/16"], "[pod-network-cidr]"),
            (
                &["--kubernetes-version=v1.31.2", "--service-cidr=10.96.0.0/12", "--pod-network-cidr=10.244.0.0/16"],
                "[kubernetes-version pod-network-cidr service-cidr]",
            ),
            (
                &["--apiserver-advertise-address=10.0.0.1", "--apiserver-bind-port=6443"],
                "[apiserver-advertise-address apiserver-bind-port]",
            ),
            (
                &["--apiserver-cert-extra-sans=a,b", "--control-plane-endpoint=cp:6443"],
                "[apiserver-cert-extra-sans control-plane-endpoint]",
            ),
            (
                &["--service-dns-domain=x.local", "--cert-dir=/pki", "--cri-socket=unix:///x.sock"],
                "[cert-dir cri-socket service-dns-domain]",
            ),
            (&["--patches=/p", "--feature-gates=A=true"], "[feature-gates patches]"),
            (&["--token=abcdef.0123456789abcdef", "--token-ttl=1h"], "[token token-ttl]"),
            (&["--certificate-key=00"], "[certificate-key]"),
        ];
        for (flags, listed) in refused {
            let mut args = vec!["--config", "k.yaml"];
            args.extend_from_slice(flags);
            let err = options(&args).unwrap_err().to_string();
            assert_eq!(err, format!("can not mix '--config' with arguments {listed}: set them in the --config file instead"), "{flags:?}");
            // Without --config the same flags are fine.
            options(flags).unwrap();
        }
    }

    #[test]
    fn flags_kubeadm_allows_next_to_config_and_airadms_own_are_accepted() {
        let allowed: &[&str] = &[
            "--node-name=cp-0",
            "--ignore-preflight-errors=all",
            "--skip-phases=addon",
            "--dry-run",
            "--upload-certs",
            "--rootfs=/tmp/r",
            "--trusted-key=k.pub",
            "--arch=arm64",
            "--bin-dir=/opt/bin",
            "--force-binaries",
        ];
        let mut args = vec!["--config", "k.yaml"];
        args.extend_from_slice(allowed);
        let options = options(&args).unwrap();
        assert_eq!(options.flags.node_name.as_deref(), Some("cp-0"));
        assert!(options.dry_run && options.upload_certs);
        let mut phase = vec!["phase", "certs", "--config", "k.yaml", "--cert-dir=/pki"];
        phase.extend_from_slice(allowed);
        assert!(options_err(&phase).contains("[cert-dir]"));
    }

    fn options_err(args: &[&str]) -> String {
        options(args).unwrap_err().to_string()
    }
}
