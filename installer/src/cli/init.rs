//! `airadm init [phase NAME [SUB]]`, with kubeadm's flags. The `phase` subcommands are made
//! from the workflow's phase tree (`crate::workflow::command`), each with the flags its phase
//! takes; `airadm init --help` lists the phases as kubeadm's does.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches as _};

use crate::kubeadm::config::InitFlags;
use crate::phases::init::InitOptions;

/// `airadm init`.
#[derive(Debug, Args)]
pub struct InitCommand {
    /// The phase `airadm init phase NAME [SUB]` selected (`certs/apiserver`; `certs` for
    /// `certs all`), set from the matches by [`InitCommand::select_phase`].
    #[arg(skip)]
    pub phase: Option<String>,
    /// kubeadm's flags and ours.
    #[command(flatten)]
    pub args: InitArgs,
}

impl InitCommand {
    /// Takes the phase subcommand's selection and flags from `matches` (those of `init`), when
    /// one was given. `command` is `init`'s own command, as [`crate::cli::command`] built it.
    pub fn select_phase(&mut self, matches: &ArgMatches, command: &clap::Command) -> anyhow::Result<()> {
        if let Some((filter, leaf)) = crate::workflow::command::selected(&crate::phases::init::runner(), matches, command)? {
            crate::workflow::command::refuse_flags_before_phase(matches, command, &filter)?;
            self.args = InitArgs::from_arg_matches(leaf)?;
            self.phase = Some(filter);
        }
        Ok(())
    }
}

/// Flags of `airadm init` (kubeadm's, plus --bundle, --trusted-key, --rootfs, --arch).
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The bundle: its signed manifest gives the version and images; `import` reads all of it.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Public key of a trusted signer; repeatable (default: /etc/airadm/trusted-keys/*.pub).
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<PathBuf>,
    /// Detached signature of the whole bundle file (default: BUNDLE.minisig when present).
    #[arg(long)]
    pub signature: Option<PathBuf>,
    /// kubeadm config file (InitConfiguration, ClusterConfiguration v1beta3/v1beta4, KubeletConfiguration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The IP address the API server advertises (default: the default route's).
    #[arg(long)]
    pub apiserver_advertise_address: Option<String>,
    /// Port the API server binds to.
    #[arg(long)]
    pub apiserver_bind_port: Option<u16>,
    /// Extra SANs of the API server certificate (IPs or DNS names).
    #[arg(long, value_delimiter = ',')]
    pub apiserver_cert_extra_sans: Vec<String>,
    /// A stable endpoint for the control plane (`host[:port]`).
    #[arg(long)]
    pub control_plane_endpoint: Option<String>,
    /// Pod CIDR(s); sets the controller-manager's --cluster-cidr.
    #[arg(long)]
    pub pod_network_cidr: Option<String>,
    /// Service CIDR(s) (default 10.96.0.0/12).
    #[arg(long)]
    pub service_cidr: Option<String>,
    /// Service DNS domain (default cluster.local).
    #[arg(long)]
    pub service_dns_domain: Option<String>,
    /// Node name (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Where certificates go (default /etc/kubernetes/pki).
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// CRI socket (default: the one of kubeadm's known sockets that exists).
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Preflight checks whose errors become warnings (`all`, or names like `NumCPU,Swap`).
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip (`import`, `certs`, `certs/etcd-ca`, `wait-control-plane`, …).
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// Write everything to a temp dir and say what would be done; nothing on the node changes.
    #[arg(long)]
    pub dry_run: bool,
    /// Directory of kubeadm patches (`target[suffix][+patchtype].{json,yaml}`).
    #[arg(long)]
    pub patches: Option<String>,
    /// Upload the control-plane certificates to the kubeadm-certs Secret.
    #[arg(long)]
    pub upload_certs: bool,
    /// Key for the kubeadm-certs Secret (64 hex characters).
    #[arg(long)]
    pub certificate_key: Option<String>,
    /// Bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`; default: generated).
    #[arg(long)]
    pub token: Option<String>,
    /// Bootstrap token lifetime (`24h0m0s`).
    #[arg(long)]
    pub token_ttl: Option<String>,
    /// kubeadm feature gates (`Name=true,Other=false`).
    #[arg(long)]
    pub feature_gates: Option<String>,
    /// Must be the bundle's version when given.
    #[arg(long)]
    pub kubernetes_version: Option<String>,
    /// Write every file below this directory instead of `/`.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Accept a bundle for this architecture (default: this node's).
    #[arg(long)]
    pub arch: Option<String>,
    /// Where the `binaries` phase puts kubelet, kubectl, kubeadm, crictl and airadm (CNI plugins: /opt/cni/bin).
    #[arg(long, default_value = crate::binaries::DEFAULT_BIN_DIR)]
    pub bin_dir: String,
    /// Replace an existing binary that differs from the bundle's (otherwise it is kept and reported).
    #[arg(long)]
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
        let phase = self.phase;
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
    fn options(args: &[&str]) -> anyhow::Result<crate::phases::init::InitOptions> {
        let cli = crate::cli::parse_from(["airadm", "init"].iter().chain(args).chain(&["--bundle", "b.tar.zst"]))?;
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
        let given = options(&args).unwrap();
        assert_eq!(given.flags.node_name.as_deref(), Some("cp-0"));
        assert!(given.dry_run && given.upload_certs);
        // A phase takes the flags its kubeadm phase inherits, plus airadm's own.
        let phase = [
            "phase",
            "certs",
            "all",
            "--config",
            "k.yaml",
            "--cert-dir=/pki",
            "--dry-run",
            "--rootfs=/tmp/r",
            "--trusted-key=k.pub",
            "--arch=arm64",
        ];
        assert_eq!(options_err(&phase), "can not mix '--config' with arguments [cert-dir]: set them in the --config file instead");
        let all = options(&["phase", "certs", "all", "--config", "k.yaml", "--dry-run"]).unwrap();
        assert_eq!(all.phase.as_deref(), Some("certs"), "`all` runs its parent");
        assert!(all.dry_run);
        assert_eq!(options(&["phase", "certs", "apiserver"]).unwrap().phase.as_deref(), Some("certs/apiserver"));
        let err = options_err(&["phase", "certs", "ca", "--pod-network-cidr=10.0.0.0/16"]);
        assert!(err.starts_with("unknown flag: --pod-network-cidr (`init phase certs ca` takes --bundle, --trusted-key, --signature, --config, --cert-dir, --dry-run, --kubernetes-version, --rootfs, --arch)"), "{err}");
        let err = options_err(&["--dry-run", "phase", "certs", "ca"]);
        assert_eq!(
            err,
            "--dry-run is given before `phase`: put every flag after the phase's name (`airadm init phase certs ca --dry-run …`)"
        );
    }

    fn options_err(args: &[&str]) -> String {
        options(args).unwrap_err().to_string()
    }
}
