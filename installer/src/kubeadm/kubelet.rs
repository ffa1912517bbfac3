//! `kubelet-start`: the kubelet's files as kubeadm writes them: `/var/lib/kubelet/config.yaml`
//! (the user's `KubeletConfiguration` with kubeadm's enforced defaults), the flags file
//! `/var/lib/kubelet/kubeadm-flags.env`, and the systemd drop-in the kubeadm package ships (airadm
//! replaces that package, so it installs the drop-in unless the package's is there); then the
//! kubelet is restarted through systemd when there is one.

use bundle::kubeadm::Arg;
use serde_json::{Value, json};

use super::config::{InitConfig, defaults};
use super::files::{PUBLIC, Root};

/// The kubelet's directory.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// The kubelet's configuration file.
pub const CONFIG_FILE: &str = "/var/lib/kubelet/config.yaml";
/// The flags file kubeadm writes at init and join.
pub const FLAGS_FILE: &str = "/var/lib/kubelet/kubeadm-flags.env";
/// The node's own part of the kubelet configuration (feature gate `NodeLocalCRISocket`), laid
/// over `config.yaml` as a strategic merge patch.
pub const INSTANCE_CONFIG_FILE: &str = "/var/lib/kubelet/instance-config.yaml";
/// Where the kubeadm package puts its drop-in.
pub const PACKAGE_DROP_IN: &str = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf";
/// Where airadm puts it when the package's is absent.
pub const DROP_IN: &str = "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf";
/// systemd-resolved's upstream resolv.conf, which the kubelet must use when it runs.
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// The drop-in of kubeadm's packages (kubernetes/release `10-kubeadm.conf`).
pub const DROP_IN_TEXT: &str = r#"# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"#;

/// Where the kubelet's own unit goes when airadm installs the kubelet (an administrator's unit
/// directory: the packages' `/usr/lib/systemd/system/kubelet.service` stays theirs).
pub const UNIT: &str = "/etc/systemd/system/kubelet.service";

/// Where the packages install the kubelet, and the drop-in's `ExecStart` says.
pub const PACKAGE_KUBELET: &str = "/usr/bin/kubelet";

/// The kubelet unit of the Kubernetes packages (kubernetes/release, `kubelet.service`).
const UNIT_TEXT: &str = "[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
";

/// The packages' unit, running the kubelet at `kubelet` (a node path).
pub fn unit_text(kubelet: &str) -> String {
    UNIT_TEXT.replace(PACKAGE_KUBELET, kubelet)
}

/// The packages' drop-in, running the kubelet at `kubelet` (a node path).
pub fn drop_in_text(kubelet: &str) -> String {
    DROP_IN_TEXT.replace(&format!("ExecStart={PACKAGE_KUBELET} "), &format!("ExecStart={kubelet} "))
}

/// A kubelet file could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The user's KubeletConfiguration is not a mapping.
    #[error("KubeletConfiguration: {0}")]
    Invalid(String),
    /// A `kubeletconfiguration` patch failed.
    #[error(transparent)]
    Patch(#[from] super::patches::PatchError),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `/var/lib/kubelet/config.yaml` as a document: the user's `KubeletConfiguration`, with
/// kubeadm's defaults where it says nothing (`componentconfigs/kubelet.go`: `Default`), and the
/// warnings kubeadm prints where the user chose otherwise. `systemd_resolved`: the node runs
/// systemd-resolved (then `resolvConf` points at its upstream file).
pub fn config(cfg: &InitConfig, systemd_resolved: bool) -> Result<(Value, Vec<String>), KubeletError> {
    let mut doc = cfg.kubelet_configuration.clone().unwrap_or_else(|| json!({}));
    let map = doc.as_object_mut().ok_or_else(|| KubeletError::Invalid("the document is not a mapping".into()))?;
    map.insert("apiVersion".into(), json!("kubelet.config.k8s.io/v1beta1"));
    map.insert("kind".into(), json!("KubeletConfiguration"));
    // kubeadm falls back to DefaultClusterDNSIP when the service subnet gives no DNS IP
    // (componentconfigs/kubelet.go `Default`); resolve has refused such a subnet already.
    let dns_ip = cfg.dns_ip().map(|ip| ip.to_string()).unwrap_or_else(|_| "10.96.0.10".into());
    let client_ca = cfg.cert_path("ca.crt");
    let mut warnings = Vec::new();
    let mut default = |pointer: &str, value: Value, enforced: bool| {
        match doc.pointer(pointer) {
            None | Some(Value::Null) => set(&mut doc, pointer, value),
            Some(given) if enforced && *given != value => warnings.push(format!(
                "[config] WARNING: Ignored configuration document with GroupVersionKind kubelet.config.k8s.io/v1beta1, Kind=KubeletConfiguration: the value of KubeletConfiguration.{} is {given}, kubeadm expects {value}",
                pointer.trim_start_matches('/').replace('/', ".")
            )),
            Some(_) => {}
        }
    };
    default("/staticPodPath", json!(defaults::MANIFESTS_DIR), true);
    default("/clusterDNS", json!([dns_ip]), true);
    default("/clusterDomain", json!(cfg.dns_domain), true);
    default("/authentication/x509/clientCAFile", json!(client_ca), true);
    default("/authentication/anonymous/enabled", json!(false), true);
    default("/authorization/mode", json!("Webhook"), true);
    default("/authentication/webhook/enabled", json!(true), true);
    default("/healthzBindAddress", json!("127.0.0.1"), true);
    default("/healthzPort", json!(10248), true);
    default("/cgroupDriver", json!("systemd"), false);
    if systemd_resolved {
        default("/resolvConf", json!(SYSTEMD_RESOLV_CONF), true);
    }
    // kubeadm hard-codes certificate rotation on.
    set(&mut doc, "/rotateCertificates", json!(true));
    if doc.pointer("/readOnlyPort").is_some_and(|p| *p != json!(0)) {
        warnings.push("[config] WARNING: KubeletConfiguration.readOnlyPort is not 0: the kubelet will serve unauthenticated HTTP".into());
    }
    Ok((super::skeleton::dress(cfg.version.minor, super::skeleton::Kind::KubeletConfiguration, &doc), warnings))
}

/// Sets `pointer` (`/a/b`) in `doc`, creating mappings on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut at = doc;
    let mut keys = pointer.trim_start_matches('/').split('/').peekable();
    while let Some(key) = keys.next() {
        if !at.is_object() {
            *at = json!({});
        }
        let Some(map) = at.as_object_mut() else { return };
        if keys.peek().is_none() {
            map.insert(key.to_owned(), value);
            return;
        }
        at = map.entry(key.to_owned()).or_insert_with(|| json!({}));
    }
}

/// `/var/lib/kubelet/kubeadm-flags.env` (`phases/kubelet/flags.go`): the CRI endpoint, the pause
/// image before v1.35 (kubeadm stopped passing it then, kubernetes/kubernetes#133778),
/// `--hostname-override` when the node name is not the hostname; then
/// `nodeRegistration.kubeletExtraArgs` over them, sorted as `ArgumentsToCommand` sorts.
pub fn flags_env(cfg: &InitConfig, hostname: &str) -> String {
    let mut base = Vec::new();
    if !cfg.feature("NodeLocalCRISocket") {
        base.push(Arg { name: "container-runtime-endpoint".into(), value: cfg.cri_socket.clone() });
    }
    if !cfg.version.at_least(35) && !cfg.images.pause.is_empty() {
        base.push(Arg { name: "pod-infra-container-image".into(), value: cfg.images.pause.clone() });
    }
    if cfg.register_taints_with_flags && !cfg.taints.is_empty() {
        // kubeadm's `Taint.ToString`: `key=value:effect`, or `key:effect`.
        let taints: Vec<String> = cfg
            .taints
            .iter()
            .map(|t| match t.value.as_deref().filter(|v| !v.is_empty()) {
                Some(value) => format!("{}={value}:{}", t.key, t.effect),
                None => format!("{}:{}", t.key, t.effect),
            })
            .collect();
        base.push(Arg { name: "register-with-taints".into(), value: taints.join(",") });
    }
    let node_name =
        cfg.kubelet_extra_args.iter().rev().find(|a| a.name == "hostname-override").map_or(cfg.node_name.as_str(), |a| a.value.as_str());
    if node_name != hostname {
        base.push(Arg { name: "hostname-override".into(), value: node_name.to_owned() });
    }
    let args = super::arguments::arguments_to_command(&cfg.version, &base, &cfg.kubelet_extra_args);
    format!("KUBELET_KUBEADM_ARGS={}\n", go_quote(&args.join(" ")))
}

/// Go's `%q` for the characters a flags line can hold.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Which workflow writes the kubelet's files: kubeadm's init writes the flags first, its join last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    /// `init` (`runKubeletStart`).
    Init,
    /// `join` (`runKubeletStartJoinPhase`).
    Join,
}

/// Writes the kubelet's files under `root` in `workflow`'s order; returns kubeadm's log lines.
pub fn write_files(cfg: &InitConfig, root: &Root, hostname: &str, workflow: Workflow) -> Result<Vec<String>, KubeletError> {
    use super::patches::{PatchKind, Patches, applied_line};
    let mut log = Vec::new();
    let (mut doc, warnings) = config(cfg, root.exists(SYSTEMD_RESOLV_CONF))?;
    log.extend(warnings);
    // kubeadm's order (runKubeletStart): the flags, the instance configuration, then config.yaml
    // with the user's patches and the instance configuration over it.
    let patches = cfg.patches_dir.as_ref().map(|dir| Patches::read(std::path::Path::new(dir))).transpose()?;
    root.create_dir(KUBELET_DIR, 0o700)?;
    let write_flags = |log: &mut Vec<String>| -> Result<(), KubeletError> {
        log.push(format!("[kubelet-start] Writing kubelet environment file with flags to file \"{FLAGS_FILE}\""));
        Ok(root.write(FLAGS_FILE, flags_env(cfg, hostname).as_bytes(), PUBLIC)?)
    };
    if workflow == Workflow::Init {
        write_flags(&mut log)?;
    }
    let instance = cfg.feature("NodeLocalCRISocket");
    if instance {
        log.push(format!("[kubelet-start] Writing kubelet configuration to file \"{INSTANCE_CONFIG_FILE}\""));
        root.write(INSTANCE_CONFIG_FILE, format!("containerRuntimeEndpoint: {}\n", go_quote(&cfg.cri_socket)).as_bytes(), PUBLIC)?;
    }
    if let Some(patches) = patches {
        let (patched, applied) = patches.apply("kubeletconfiguration", doc)?;
        doc = patched;
        log.extend(applied.iter().map(|f| applied_line(f.kind, "kubeletconfiguration")));
    }
    if instance {
        set(&mut doc, "/containerRuntimeEndpoint", json!(cfg.cri_socket));
        log.push(applied_line(PatchKind::Strategic, "kubeletconfiguration"));
    }
    log.push(format!("[kubelet-start] Writing kubelet configuration to file \"{CONFIG_FILE}\""));
    root.write(CONFIG_FILE, super::yaml::to_yaml(&doc).as_bytes(), PUBLIC)?;
    if workflow == Workflow::Join {
        write_flags(&mut log)?;
    }
    // The packages' drop-in, or the one `binaries` wrote for the kubelet it installed, stays.
    if !root.exists(PACKAGE_DROP_IN) && !root.exists(DROP_IN) {
        log.push(format!("[kubelet-start] Writing the kubelet systemd drop-in to \"{DROP_IN}\""));
        root.write(DROP_IN, DROP_IN_TEXT.as_bytes(), PUBLIC)?;
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeadm::config::{ComponentImages, HostFacts, InitFlags, Version, parse_documents, resolve};

    fn cfg(text: &str, version: &str) -> InitConfig {
        let host = HostFacts { hostname: "node-1".into(), default_address: Some("10.0.0.1".parse().unwrap()), cri_socket: None };
        let images = ComponentImages { pause: "registry.k8s.io/pause:3.10".into(), ..Default::default() };
        resolve(parse_documents(text, "k.yaml").unwrap(), &InitFlags::default(), &host, &Version::parse(version).unwrap(), images).unwrap()
    }

    #[test]
    fn kubelet_config_has_kubeadm_defaults_and_keeps_the_users_settings() {
        let (doc, warnings) = config(&cfg("", "v1.31.2"), false).unwrap();
        // kubeadm's defaults over the zero values its v1.31 Go struct marshals (checked against
        // real kubeadm in the api_phases end-to-end test).
        let defaults: Value = serde_saphyr::from_str(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n    enabled: false\n  webhook:\n    enabled: true\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nauthorization:\n  mode: Webhook\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\nhealthzBindAddress: 127.0.0.1\nhealthzPort: 10248\nkind: KubeletConfiguration\nrotateCertificates: true\nstaticPodPath: /etc/kubernetes/manifests\n",
        )
        .unwrap();
        assert_eq!(doc, crate::kubeadm::skeleton::dress(31, crate::kubeadm::skeleton::Kind::KubeletConfiguration, &defaults));
        assert_eq!(doc["syncFrequency"], "0s", "a zero value Go writes");
        assert!(warnings.is_empty());
        let user = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\nmaxPods: 50\nclusterDNS: [10.96.0.53]\n";
        let (doc, warnings) = config(&cfg(user, "v1.31.2"), true).unwrap();
        assert_eq!((doc["cgroupDriver"].as_str(), doc["maxPods"].as_i64()), (Some("cgroupfs"), Some(50)));
        assert_eq!(doc["resolvConf"], SYSTEMD_RESOLV_CONF);
        assert_eq!(doc["clusterDNS"][0], "10.96.0.53", "the user's value stays, with a warning");
        assert!(warnings.len() == 1 && warnings[0].contains("clusterDNS"), "{warnings:?}");
    }

    #[test]
    fn flags_file_as_kubeadm_writes_it_per_version() {
        assert_eq!(
            flags_env(&cfg("", "v1.31.2"), "node-1"),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n"
        );
        // From v1.34 the endpoint is in instance-config.yaml (NodeLocalCRISocket, on by default).
        assert_eq!(flags_env(&cfg("", "v1.35.0"), "other-host"), "KUBELET_KUBEADM_ARGS=\"--hostname-override=node-1\"\n");
        let off = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nfeatureGates:\n  NodeLocalCRISocket: false\n";
        assert_eq!(
            flags_env(&cfg(off, "v1.35.0"), "other-host"),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --hostname-override=node-1\"\n"
        );
        let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  criSocket: unix:///var/run/crio/crio.sock\n  kubeletExtraArgs:\n  - name: node-ip\n    value: 10.0.0.1\n  - name: container-runtime-endpoint\n    value: unix:///run/x.sock\n";
        assert_eq!(
            flags_env(&cfg(text, "v1.35.0"), "node-1"),
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/x.sock --node-ip=10.0.0.1\"\n"
        );
    }

    #[test]
    fn files_are_written_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let log = write_files(&cfg("", "v1.31.2"), &root, "node-1", Workflow::Init).unwrap();
        assert!(log.iter().any(|l| l.contains("kubeadm-flags.env")), "{log:?}");
        assert!(root.read(CONFIG_FILE).unwrap().unwrap().starts_with(b"apiVersion: kubelet.config.k8s.io/v1beta1\n"));
        assert_eq!(root.read(DROP_IN).unwrap().unwrap(), DROP_IN_TEXT.as_bytes());
    }
}
