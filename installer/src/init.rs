//! `airadm init`: kubeadm's init workflow, offline. The bundle's signed manifest gives the
//! Kubernetes version and the image of every component; `import` verifies the whole bundle and
//! puts its images into the runtime; then kubeadm's phases run in kubeadm's order, each also
//! runnable alone (`airadm init phase NAME [SUB]`). From `wait-control-plane` on, the phases talk
//! to the API server through `/etc/kubernetes/admin.conf` (under `--dry-run` they only say what
//! they would do).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;

use crate::import::{self, ImportOptions};
use crate::kubeadm::config::{self, ComponentImages, InitConfig, InitFlags, Version};
use crate::kubeadm::files::Root;
use crate::kubeadm::{addons, api, certs, initsystem, kubeconfig, kubelet, preflight, staticpod, wait};
use crate::runtime::{self, cri::Cri};
use crate::trusted_keys;

mod client;
mod host;
use client::{AdminClient, kube_client, read_node_file, retrying};
use host::{host_facts, proxy_env};

/// kubeadm's init phases in order, with their sub-phases (`all` first where there are some).
pub const PHASES: &[(&str, &[&str])] = &[
    ("import", &[]),
    ("binaries", &[]),
    ("preflight", &[]),
    (
        "certs",
        &[
            "all",
            "ca",
            "apiserver",
            "apiserver-kubelet-client",
            "front-proxy-ca",
            "front-proxy-client",
            "etcd-ca",
            "etcd-server",
            "etcd-peer",
            "etcd-healthcheck-client",
            "apiserver-etcd-client",
            "sa",
        ],
    ),
    ("kubeconfig", &["all", "admin", "super-admin", "kubelet", "controller-manager", "scheduler"]),
    ("etcd", &["local"]),
    ("control-plane", &["all", "apiserver", "controller-manager", "scheduler"]),
    ("kubelet-start", &[]),
    ("wait-control-plane", &[]),
    ("upload-config", &["all", "kubeadm", "kubelet"]),
    ("upload-certs", &[]),
    ("mark-control-plane", &[]),
    ("bootstrap-token", &[]),
    ("kubelet-finalize", &["all", "enable-client-cert-rotation"]),
    ("addon", &["all", "coredns", "kube-proxy"]),
    ("show-join-command", &[]),
];

/// The first phase that needs the API server (everything after it does too).
const FIRST_API_PHASE: &str = "wait-control-plane";

/// What `airadm init` (or one phase) was asked.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// kubeadm's flags.
    pub flags: InitFlags,
    /// `--kubernetes-version`: must be the bundle's.
    pub kubernetes_version: Option<String>,
    /// `--bundle`.
    pub bundle: PathBuf,
    /// `--trusted-key`.
    pub trusted_keys: Vec<PathBuf>,
    /// `--signature`: the detached signature of the whole bundle (default: BUNDLE.minisig).
    pub signature: Option<PathBuf>,
    /// `--rootfs`: every file goes below it.
    pub rootfs: Option<PathBuf>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--upload-certs`.
    pub upload_certs: bool,
    /// `--arch`: accept a bundle for another architecture.
    pub arch: Option<String>,
    /// `--bin-dir`: where the `binaries` phase installs the node's binaries.
    pub bin_dir: String,
    /// `--force-binaries`.
    pub force_binaries: bool,
    /// Run only this phase (`certs`, `certs/apiserver`, …); `None`: the whole workflow.
    pub phase: Option<String>,
}

/// Splits `certs/apiserver` or `certs` into phase and sub-phase, checking both exist.
pub fn parse_phase(text: &str) -> anyhow::Result<(&'static str, Option<&'static str>)> {
    let (name, sub) = text.split_once('/').map_or((text, None), |(n, s)| (n, Some(s)));
    let (phase, subs) = PHASES
        .iter()
        .find(|(p, _)| *p == name)
        .with_context(|| format!("unknown phase `{name}`: phases are {}", PHASES.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")))?;
    let sub = match sub {
        None => None,
        Some(s) => Some(*subs.iter().find(|x| **x == s).with_context(|| {
            format!("phase `{phase}` has no sub-phase `{s}`: it has {}", if subs.is_empty() { "none".to_owned() } else { subs.join(", ") })
        })?),
    };
    Ok((phase, sub))
}

/// The whole workflow minus `--skip-phases`: a phase name skips the phase, `phase/sub` one of
/// its sub-phases (the others then run one by one).
pub fn plan(skip: &[String]) -> Vec<(&'static str, &'static str)> {
    let mut plan = Vec::new();
    for (phase, subs) in PHASES {
        if skip.iter().any(|s| s == phase) {
            continue;
        }
        let skipped_subs: Vec<&str> = skip.iter().filter_map(|s| s.strip_prefix(&format!("{phase}/"))).collect();
        if skipped_subs.is_empty() || subs.is_empty() {
            plan.push((*phase, "all"));
        } else {
            plan.extend(subs.iter().filter(|s| **s != "all" && !skipped_subs.contains(s)).map(|s| (*phase, *s)));
        }
    }
    plan
}

/// Runs `airadm init` or one of its phases.
pub async fn run(options: InitOptions) -> anyhow::Result<()> {
    let single = options.phase.as_deref().map(parse_phase).transpose()?;
    let keys = trusted_keys::load(&options.trusted_keys, Path::new(trusted_keys::TRUSTED_KEYS_DIR))?;
    // One open file for the whole run: the import phase reads the same file from its start and
    // refuses it unless its signed manifest is this one.
    let bundle_file = fs_err::File::open(&options.bundle)?.into_parts().0;
    let manifest = bundle::reader::read_manifest_verified(std::io::BufReader::new(&bundle_file), &keys)
        .with_context(|| format!("`{}`", options.bundle.display()))?;
    let version = Version::parse(&manifest.kubernetes_version).with_context(|| {
        format!("`{}`: the manifest's version `{}` is not vX.Y.Z", options.bundle.display(), manifest.kubernetes_version)
    })?;
    if let Some(given) = &options.kubernetes_version
        && Version::parse(given).map(|v| v.text) != Some(version.text.clone())
    {
        anyhow::bail!("--kubernetes-version {given} is not the bundle's version {version}: use a {given} bundle, or drop the flag");
    }
    let arch = options.arch.clone().unwrap_or_else(|| import::node_arch().to_owned());
    anyhow::ensure!(
        manifest.arch == arch,
        "`{}` is for linux/{}, this node is linux/{arch}: use the {arch} bundle (or pass --arch {})",
        options.bundle.display(),
        manifest.arch,
        manifest.arch
    );
    let images = ComponentImages::from_bundle(&manifest.images)?;
    let docs = match &options.config {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            config::parse_documents(&text, &path.display().to_string())?
        }
        None => config::Documents { init: None, cluster: None, kubelet: None, kube_proxy: None },
    };
    let real_root = match &options.rootfs {
        Some(dir) => Root::new(dir).named("--rootfs"),
        None => Root::new("/"),
    };
    let config_socket = docs.init.as_ref().and_then(|i| i.node_registration.as_ref()).is_some_and(|n| n.cri_socket.is_some());
    let host = host_facts(&options.flags, config_socket, &real_root)?;
    let cfg = config::resolve(docs, &options.flags, &host, &version, images)?;
    for (field, path) in cfg.node_paths(&options.flags) {
        real_root.check(field, path)?;
    }

    // Dry run: everything is written to a temp dir instead of the node.
    let dry_dir = options.dry_run.then(|| tempfile::Builder::new().prefix("airadm-init-dryrun-").tempdir()).transpose()?;
    let root = match &dry_dir {
        Some(dir) => Root::new(dir.path()).named("the --dry-run directory"),
        None => real_root.clone(),
    };
    let mut out = std::io::stdout().lock();
    let mut say = |lines: Vec<String>| -> std::io::Result<()> {
        for line in lines {
            writeln!(out, "{line}")?;
        }
        Ok(())
    };
    let plan: Vec<(&str, &str)> = match single {
        Some((phase, sub)) => vec![(phase, sub.unwrap_or("all"))],
        None => plan(&cfg.skip_phases),
    };
    if single.is_none() {
        say(vec![format!("[init] Using Kubernetes version: {version}")])?;
    }
    let now = SystemTime::now();
    let mut certificate_key: Option<String> = None;
    let mut admin = AdminClient(None);
    for (phase, which) in plan {
        match phase {
            "import" => say(import_phase(&options, &cfg, &keys, (&bundle_file, &manifest)).await?)?,
            "binaries" => say(binaries_phase(&options, &real_root, &keys, (&bundle_file, &manifest))?)?,
            "preflight" => {
                say(vec!["[preflight] Running pre-flight checks".into()])?;
                let probe = preflight::HostProbe { root: &real_root, bin_dir: &options.bin_dir };
                let mut findings = preflight::init_checks(&cfg, &probe);
                findings.extend(cri_findings(&cfg, &manifest.images).await);
                let warnings = preflight::evaluate(&findings, &cfg.ignore_preflight_errors)?;
                say(warnings)?;
            }
            "certs" => say(certs::run(&cfg, &root, which, now)?)?,
            "kubeconfig" => say(kubeconfig::run(&cfg, &root, which, now)?)?,
            "etcd" => {
                if cfg.local_etcd().is_some() {
                    say(staticpod::write_manifests(&cfg, &root, "etcd", certs::using_external_ca(&cfg, &root), &proxy_env())?)?;
                }
            }
            "control-plane" => {
                let components: &[&str] = match which {
                    "apiserver" => &["kube-apiserver"],
                    "controller-manager" => &["kube-controller-manager"],
                    "scheduler" => &["kube-scheduler"],
                    _ => {
                        say(vec![format!("[control-plane] Using manifest folder \"{}\"", config::defaults::MANIFESTS_DIR)])?;
                        &["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
                    }
                };
                let external_ca = certs::using_external_ca(&cfg, &root);
                for component in components {
                    say(staticpod::write_manifests(&cfg, &root, component, external_ca, &proxy_env())?)?;
                }
            }
            "kubelet-start" => {
                if !options.dry_run {
                    say(initsystem::kubelet(&root, initsystem::Kubelet::Stop))?;
                }
                say(kubelet::write_files(&cfg, &root, &host.hostname)?)?;
                if !options.dry_run {
                    say(vec!["[kubelet-start] Starting the kubelet".into()])?;
                    say(initsystem::kubelet(&root, initsystem::Kubelet::Start))?;
                }
            }
            api_phase
                if options.dry_run
                    && PHASES.iter().position(|(p, _)| *p == api_phase) >= PHASES.iter().position(|(p, _)| *p == FIRST_API_PHASE) =>
            {
                say(vec![format!("[dryrun] Would run phase {api_phase} against the API server")])?;
            }
            "wait-control-plane" => {
                say(vec![
                    format!(
                        "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory \"{}\"",
                        config::defaults::MANIFESTS_DIR
                    ),
                    format!(
                        "[kubelet-check] Waiting for a healthy kubelet at http://{}/healthz. This can take up to {}",
                        wait::KUBELET_HEALTHZ,
                        wait::go_duration(cfg.kubelet_health_timeout)
                    ),
                ])?;
                let addr = wait::KUBELET_HEALTHZ.parse()?;
                let took = wait::kubelet_healthy(addr, cfg.kubelet_health_timeout, std::time::Duration::from_millis(500)).await?;
                say(vec![
                    format!("[kubelet-check] The kubelet is healthy after {took:?}"),
                    format!(
                        "[api-check] Waiting for a healthy API server. This can take up to {}",
                        wait::go_duration(cfg.control_plane_health_timeout)
                    ),
                ])?;
                // kubeadm's WaitControlPlaneClient: admin.conf as it is, nothing bootstrapped yet.
                let client = kube_client(&root, "/etc/kubernetes/admin.conf").await?;
                let took =
                    wait::api_server_healthy(&client, cfg.control_plane_health_timeout, std::time::Duration::from_millis(500)).await?;
                say(vec![format!("[api-check] The API server is healthy after {took:?}")])?;
            }
            "upload-config" => {
                let (client, cfg) = (&admin.get(&root).await?, &cfg);
                if which == "all" || which == "kubeadm" {
                    say(retrying(cfg, || api::upload_kubeadm_config(client, cfg)).await?)?;
                }
                if which == "all" || which == "kubelet" {
                    // kubeadm v1.37 keeps the node's own mutation (resolvConf) out of the
                    // cluster-wide ConfigMap (phases/kubelet/config.go deep-copies before Mutate).
                    let resolved = root.exists(kubelet::SYSTEMD_RESOLV_CONF) && !cfg.version.at_least(37);
                    let (document, _) = kubelet::config(cfg, resolved)?;
                    let document = &document;
                    say(retrying(cfg, || api::upload_kubelet_config(client, document, cfg.kubelet_configuration.is_some())).await?)?;
                }
            }
            "upload-certs" if !options.upload_certs && options.phase.is_none() => {
                say(vec!["[upload-certs] Skipping phase. Please see --upload-certs".into()])?;
            }
            "upload-certs" => {
                let (client, cfg, root) = (&admin.get(&root).await?, &cfg, &root);
                let key = cfg.certificate_key.clone().unwrap_or_else(api::create_certificate_key);
                let token = config::generate_token();
                say(retrying(cfg, || api::upload_certs(client, cfg, root, &key, &token, now)).await?)?;
                certificate_key = Some(key);
            }
            "mark-control-plane" => {
                // The kubelet registers the Node shortly after the API server is up.
                let (client, cfg) = (&admin.get(&root).await?, &cfg);
                say(retrying(cfg, || api::mark_control_plane(client, &cfg.node_name, &cfg.taints)).await?)?;
            }
            "bootstrap-token" => {
                let (client, cfg) = (&admin.get(&root).await?, &cfg);
                let admin_conf = read_node_file(&root, "/etc/kubernetes/admin.conf")?;
                let admin_conf = &String::from_utf8(admin_conf).context("/etc/kubernetes/admin.conf is not UTF-8")?;
                say(retrying(cfg, || api::bootstrap_token(client, &cfg.bootstrap_tokens, admin_conf, now, &cfg.version)).await?)?;
            }
            "kubelet-finalize" => {
                let lines = api::enable_client_cert_rotation(&cfg, &root)?;
                let rotated = !lines.is_empty();
                say(lines)?;
                if rotated {
                    say(initsystem::kubelet(&root, initsystem::Kubelet::Restart))?;
                }
            }
            "addon" => {
                let (client, cfg) = (&admin.get(&root).await?, &cfg);
                if which == "all" || which == "coredns" {
                    say(retrying(cfg, || addons::apply_coredns(client, cfg)).await?)?;
                }
                if which == "all" || which == "kube-proxy" {
                    let env = &proxy_env();
                    say(retrying(cfg, || addons::apply_kube_proxy(client, cfg, env)).await?)?;
                }
            }
            "show-join-command" => say(join_message(&cfg, &root, certificate_key.as_deref(), &manifest.file_name())?)?,
            other => anyhow::bail!("internal error: phase `{other}` has no runner"),
        }
    }
    if let Some(dir) = dry_dir {
        let kept = dir.keep();
        say(vec![format!(
            "[dryrun] Wrote certificates, kubeconfig files and control plane manifests to the \"{}\" directory",
            kept.display()
        )])?;
    }
    Ok(())
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

/// Our `binaries` phase: verify the whole bundle again and install the node's binaries from it.
fn binaries_phase(
    options: &InitOptions,
    root: &Root,
    keys: &[bundle::PublicKey],
    (opened, expected): (&std::fs::File, &bundle::Manifest),
) -> anyhow::Result<Vec<String>> {
    let install = crate::binaries::InstallOptions {
        bundle: options.bundle.clone(),
        opened: opened.try_clone()?,
        expected: Some(expected.clone()),
        file_signature: crate::cli::verify::detached_signature(&options.bundle, options.signature.as_deref())?,
        keys: keys.to_vec(),
        arch: options.arch.clone().unwrap_or_else(|| import::node_arch().to_owned()),
        root: root.clone(),
        bin_dir: options.bin_dir.clone(),
        force: options.force_binaries,
        dry_run: options.dry_run,
    };
    Ok(tokio::task::block_in_place(|| crate::binaries::install(&install))?.1)
}

/// The import phase: verify the whole bundle and import it (dry run: verify only).
async fn import_phase(
    options: &InitOptions,
    cfg: &InitConfig,
    keys: &[bundle::PublicKey],
    (opened, expected): (&std::fs::File, &bundle::Manifest),
) -> anyhow::Result<Vec<String>> {
    let socket = runtime::socket_path(Some(&cfg.cri_socket), Path::new("/"))?;
    let file_signature = crate::cli::verify::detached_signature(&options.bundle, options.signature.as_deref())?;
    let report = import::import(ImportOptions {
        bundle: options.bundle.clone(),
        opened: Some(opened.try_clone()?),
        expected: Some(expected.clone()),
        file_signature,
        keys: keys.to_vec(),
        socket,
        snapshotter: None,
        arch: options.arch.clone().unwrap_or_else(|| import::node_arch().to_owned()),
        dry_run: options.dry_run,
        runtime: None,
        staging_dir: PathBuf::from("/var/tmp"),
        quiet: true,
        docker_socket: PathBuf::from("/var/run/docker.sock"),
        crio_config_dir: PathBuf::from(crate::runtime::crio::CONFIG_DIR),
    })
    .await?;
    let mut lines: Vec<String> = report.images.iter().map(|i| format!("[import] {} {} ({})", i.name, i.digest, i.status)).collect();
    if let Some(advice) = report.sandbox {
        lines.push(format!(
            "[import] WARNING: {}'s sandbox image is {}, the bundle's is {}: the first pod would try to pull it. To fix it, {}",
            advice.runtime,
            advice.configured.as_deref().unwrap_or("not set"),
            advice.bundle,
            advice.fix
        ));
    }
    Ok(lines)
}

/// kubeadm's CRI checks, offline: the runtime answers, and has every bundle image (instead of
/// pulling them).
async fn cri_findings(cfg: &InitConfig, images: &[bundle::Image]) -> Vec<preflight::Finding> {
    let error = |name: &str, message: String| preflight::Finding { name: name.into(), severity: preflight::Severity::Error, message };
    let socket = match runtime::socket_path(Some(&cfg.cri_socket), Path::new("/")) {
        Ok(s) => s,
        Err(e) => return vec![error("CRI", e.to_string())],
    };
    let Ok(channel) = containerd_client::connect(&socket).await else {
        return vec![error("CRI", format!("container runtime is not running: could not connect to {}", cfg.cri_socket))];
    };
    let mut cri = Cri::new(channel);
    if let Err(e) = cri.version().await {
        return vec![error("CRI", format!("container runtime at {} does not answer CRI calls: {e}", cfg.cri_socket))];
    }
    let not_held = match runtime::cri::held(&mut cri, images).await {
        Ok(answers) => runtime::cri::not_held(&answers),
        Err(e) => return vec![error("ImagePull", e.to_string())],
    };
    if not_held.is_empty() {
        return vec![];
    }
    vec![error(
        "ImagePull",
        format!("the runtime lacks {not_held} and nothing may be pulled: run `airadm images import` (or drop `import` from --skip-phases)"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::config::HostFacts;

    #[test]
    fn phases_and_sub_phases_are_checked() {
        assert_eq!(parse_phase("certs/apiserver").unwrap(), ("certs", Some("apiserver")));
        assert_eq!(parse_phase("kubelet-start").unwrap(), ("kubelet-start", None));
        assert!(
            parse_phase("bogus").unwrap_err().to_string().contains("unknown phase `bogus`: phases are import, binaries, preflight, certs")
        );
        assert!(parse_phase("etcd/remote").unwrap_err().to_string().contains("phase `etcd` has no sub-phase `remote`: it has local"));
    }

    #[test]
    fn the_join_command_never_prints_an_empty_token() {
        let host = HostFacts { hostname: "n".into(), default_address: Some("10.0.0.1".parse().unwrap()), cri_socket: None };
        let flags = InitFlags { token: Some("abcdef.0123456789abcdef".into()), ..InitFlags::default() };
        let version = Version::parse("v1.31.2").unwrap();
        let docs = config::Documents { init: None, cluster: None, kubelet: None, kube_proxy: None };
        let mut cfg = config::resolve(docs, &flags, &host, &version, ComponentImages::default()).unwrap();
        assert_eq!(join_token(&cfg).unwrap(), "abcdef.0123456789abcdef");
        cfg.bootstrap_tokens[0].token = Some(String::new());
        let err = join_token(&cfg).unwrap_err().to_string();
        assert_eq!(err, "no bootstrap token to print in the join command: give one in bootstrapTokens or with --token");
        cfg.bootstrap_tokens.clear();
        assert!(join_token(&cfg).is_err());
    }

    #[test]
    fn skip_phases_drop_whole_phases_or_single_sub_phases() {
        let full = plan(&[]);
        assert_eq!(full.len(), PHASES.len());
        assert!(full.iter().all(|(_, which)| *which == "all"));
        let skip = ["import".to_owned(), "certs/etcd-ca".to_owned(), "addon".to_owned()];
        let plan = plan(&skip);
        assert!(!plan.iter().any(|(p, _)| *p == "import" || *p == "addon"));
        let certs: Vec<&str> = plan.iter().filter(|(p, _)| *p == "certs").map(|(_, s)| *s).collect();
        assert_eq!(certs.len(), 10, "{certs:?}");
        assert!(!certs.contains(&"etcd-ca") && !certs.contains(&"all") && certs[0] == "ca");
    }
}
