//! kube-apiserver, kube-controller-manager and kube-scheduler (kubeadm:
//! cmd/kubeadm/app/phases/controlplane/manifests.go `GetStaticPodSpecs` and the
//! `get*Command` functions, volumes.go `getHostPathVolumesForTheControlPlane`).

use std::collections::BTreeMap;

use bundle::kubeadm::{Arg, HostPathMount};
use serde_json::{Value, json};

use super::{
    KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, ProbeTarget, add_probe_port, arg, arguments_to_command, component_pod,
    host_path_volume, host_port, join, last_arg, liveness_probe, merge_env, probe_port, proxy_env_vars, readiness_probe, set_arg, set_env,
    startup_probe, volume_mount,
};
use crate::kubeadm::InitConfig;
use crate::kubeadm::config::defaults::KUBERNETES_DIR;

const CONTROLLER_MANAGER_PORT: u16 = 10257;
const SCHEDULER_PORT: u16 = 10259;
const CA_CERTS_PATH: &str = "/etc/ssl/certs";
const FLEXVOLUME_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/volume/exec";
/// Mounted when they exist on the host: /etc/ssl/certs symlinks into them on some distributions.
const CA_CERTS_EXTRA_PATHS: [&str; 5] =
    ["/etc/pki/ca-trust", "/etc/pki/tls/certs", "/etc/ca-certificates", "/usr/share/ca-certificates", "/usr/local/share/ca-certificates"];
const AUTHZ_MODES: [&str; 6] = ["Node", "RBAC", "Webhook", "ABAC", "AlwaysAllow", "AlwaysDeny"];

/// The three control-plane Pods, in kubeadm's order. `external_ca`: `ca.key` is absent
/// (kube-controller-manager then gets empty signing flags). `proxy_env`: the host's environment
/// (its `*_proxy` variables go into every container). `host_has`: whether a host path exists
/// (for the optional CA-certificate directories).
pub fn control_plane_pods(
    cfg: &InitConfig,
    external_ca: bool,
    proxy_env: &[(String, String)],
    host_has: &dyn Fn(&str) -> bool,
) -> Vec<(&'static str, Value)> {
    let proxy = proxy_env_vars(proxy_env);
    let mut mounts = Mounts::for_control_plane(cfg, host_has);
    let components = [
        (KUBE_APISERVER, apiserver_container(cfg)),
        (KUBE_CONTROLLER_MANAGER, controller_manager_container(cfg, external_ca)),
        (KUBE_SCHEDULER, scheduler_container(cfg)),
    ];
    components
        .into_iter()
        .map(|(name, (mut container, extra_envs, annotations))| {
            let (volumes, volume_mounts) = mounts.take(name);
            container["volumeMounts"] = Value::Array(volume_mounts);
            set_env(&mut container, merge_env(&[&proxy, extra_envs]));
            (name, component_pod(cfg, container, volumes, annotations))
        })
        .collect()
}

type Container<'a> = (Value, &'a [bundle::kubeadm::EnvVar], Option<Value>);

fn apiserver_container(cfg: &InitConfig) -> Container<'_> {
    let advertise = cfg.advertise_address;
    // GetAPIServerProbeAddress: the advertise address, "" (the Pod IP) when unspecified.
    let host = if advertise.is_unspecified() { String::new() } else { advertise.to_string() };
    let target = ProbeTarget { host: &host, port: probe_port(cfg, cfg.bind_port), scheme: "HTTPS" };
    let mut container = base_container(cfg, KUBE_APISERVER, &cfg.images.api_server, apiserver_command(cfg), "250m");
    container["livenessProbe"] = liveness_probe(&target, "/livez");
    container["readinessProbe"] = readiness_probe(&target, "/readyz");
    container["startupProbe"] = startup_probe(cfg, &target, "/livez");
    add_probe_port(cfg, &mut container, cfg.bind_port);
    let annotations = json!({
        "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": host_port(&advertise.to_string(), cfg.bind_port),
    });
    (container, cfg.api_server.extra_envs.as_deref().unwrap_or_default(), Some(annotations))
}

fn controller_manager_container(cfg: &InitConfig, external_ca: bool) -> Container<'_> {
    let extra_args = cfg.controller_manager.extra_args.as_deref().unwrap_or_default();
    let host = bind_probe_address(extra_args);
    let target = ProbeTarget { host: &host, port: probe_port(cfg, CONTROLLER_MANAGER_PORT), scheme: "HTTPS" };
    let command = controller_manager_command(cfg, external_ca);
    let mut container = base_container(cfg, KUBE_CONTROLLER_MANAGER, &cfg.images.controller_manager, command, "200m");
    container["livenessProbe"] = liveness_probe(&target, "/healthz");
    container["startupProbe"] = startup_probe(cfg, &target, "/healthz");
    add_probe_port(cfg, &mut container, CONTROLLER_MANAGER_PORT);
    (container, cfg.controller_manager.extra_envs.as_deref().unwrap_or_default(), None)
}

fn scheduler_container(cfg: &InitConfig) -> Container<'_> {
    let extra_args = cfg.scheduler.extra_args.as_deref().unwrap_or_default();
    let host = bind_probe_address(extra_args);
    let target = ProbeTarget { host: &host, port: probe_port(cfg, SCHEDULER_PORT), scheme: "HTTPS" };
    let mut container = base_container(cfg, KUBE_SCHEDULER, &cfg.images.scheduler, scheduler_command(cfg), "100m");
    // k8s #126945 (v1.32): /livez and /readyz instead of /healthz, plus a readiness probe.
    if cfg.version.at_least(32) {
        container["livenessProbe"] = liveness_probe(&target, "/livez");
        container["readinessProbe"] = readiness_probe(&target, "/readyz");
        container["startupProbe"] = startup_probe(cfg, &target, "/livez");
    } else {
        container["livenessProbe"] = liveness_probe(&target, "/healthz");
        container["startupProbe"] = startup_probe(cfg, &target, "/healthz");
    }
    add_probe_port(cfg, &mut container, SCHEDULER_PORT);
    (container, cfg.scheduler.extra_envs.as_deref().unwrap_or_default(), None)
}

fn base_container(_cfg: &InitConfig, name: &str, image: &str, command: Vec<String>, cpu: &str) -> Value {
    // kubeadm hard-codes IfNotPresent for static Pods (nodeRegistration.imagePullPolicy is for
    // `kubeadm config images pull` only).
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "resources": {"requests": {"cpu": cpu}},
    })
}

/// `GetControllerManagerProbeAddress`/`GetSchedulerProbeAddress`: the `bind-address` extra arg
/// ("" for 0.0.0.0 and ::), else 127.0.0.1.
fn bind_probe_address(extra_args: &[Arg]) -> String {
    match last_arg(extra_args, "bind-address") {
        Some("0.0.0.0" | "::") => String::new(),
        Some(address) => address.to_owned(),
        None => "127.0.0.1".to_owned(),
    }
}

/// `getAPIServerCommand`.
pub(crate) fn apiserver_command(cfg: &InitConfig) -> Vec<String> {
    let certs = |name: &str| join(&cfg.cert_dir, name);
    let mut args = vec![
        arg("advertise-address", cfg.advertise_address.to_string()),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg("service-cluster-ip-range", cfg.service_subnet.clone()),
        arg("service-account-key-file", certs("sa.pub")),
        arg("service-account-signing-key-file", certs("sa.key")),
        arg("service-account-issuer", format!("https://kubernetes.default.svc.{}", cfg.dns_domain)),
        arg("client-ca-file", certs("ca.crt")),
        arg("tls-cert-file", certs("apiserver.crt")),
        arg("tls-private-key-file", certs("apiserver.key")),
        arg("kubelet-client-certificate", certs("apiserver-kubelet-client.crt")),
        arg("kubelet-client-key", certs("apiserver-kubelet-client.key")),
        arg("enable-bootstrap-token-auth", "true"),
        arg("secure-port", cfg.bind_port.to_string()),
        arg("allow-privileged", "true"),
        arg("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-client-ca-file", certs("front-proxy-ca.crt")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        arg("proxy-client-cert-file", certs("front-proxy-client.crt")),
        arg("proxy-client-key-file", certs("front-proxy-client.key")),
    ];
    if let Some(external) = &cfg.etcd.external {
        set_arg(&mut args, "etcd-servers", external.endpoints.join(","));
        if let Some(ca) = external.ca_file.as_deref().filter(|f| !f.is_empty()) {
            set_arg(&mut args, "etcd-cafile", ca);
        }
        if let (Some(cert), Some(key)) =
            (external.cert_file.as_deref().filter(|f| !f.is_empty()), external.key_file.as_deref().filter(|f| !f.is_empty()))
        {
            set_arg(&mut args, "etcd-certfile", cert);
            set_arg(&mut args, "etcd-keyfile", key);
        }
    } else {
        let localhost = if cfg.is_ipv6() { "::1" } else { "127.0.0.1" };
        set_arg(&mut args, "etcd-servers", format!("https://{}", host_port(localhost, 2379)));
        set_arg(&mut args, "etcd-cafile", certs("etcd/ca.crt"));
        set_arg(&mut args, "etcd-certfile", certs("apiserver-etcd-client.crt"));
        set_arg(&mut args, "etcd-keyfile", certs("apiserver-etcd-client.key"));
        let etcd_args = cfg.local_etcd().and_then(|l| l.extra_args.as_deref()).unwrap_or_default();
        if let Some(urls) = last_arg(etcd_args, "advertise-client-urls") {
            set_arg(&mut args, "etcd-servers", urls);
        }
    }
    let extra_args = cfg.api_server.extra_args.as_deref().unwrap_or_default();
    if last_arg(extra_args, "authorization-config").is_none() {
        set_arg(&mut args, "authorization-mode", authz_modes(last_arg(extra_args, "authorization-mode").unwrap_or_default()));
    }
    arguments_to_command(&cfg.version, KUBE_APISERVER, &args, extra_args)
}

/// `getAuthzModes`: the user's valid modes in their order, else `Node,RBAC`.
pub(crate) fn authz_modes(requested: &str) -> String {
    let valid: Vec<&str> =
        if requested.is_empty() { Vec::new() } else { requested.split(',').filter(|m| AUTHZ_MODES.contains(m)).collect() };
    if valid.is_empty() { "Node,RBAC".to_owned() } else { valid.join(",") }
}

/// `getControllerManagerCommand`.
pub(crate) fn controller_manager_command(cfg: &InitConfig, external_ca: bool) -> Vec<String> {
    let kubeconfig = format!("{KUBERNETES_DIR}/controller-manager.conf");
    let ca = join(&cfg.cert_dir, "ca.crt");
    let mut args = vec![
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig.clone()),
        arg("authentication-kubeconfig", kubeconfig.clone()),
        arg("authorization-kubeconfig", kubeconfig),
        arg("client-ca-file", ca.clone()),
        arg("requestheader-client-ca-file", join(&cfg.cert_dir, "front-proxy-ca.crt")),
        arg("root-ca-file", ca.clone()),
        arg("service-account-private-key-file", join(&cfg.cert_dir, "sa.key")),
        arg("cluster-signing-cert-file", ca),
        arg("cluster-signing-key-file", join(&cfg.cert_dir, "ca.key")),
        arg("use-service-account-credentials", "true"),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
    ];
    if external_ca {
        // Empty values make the csrsigning controller stay off.
        set_arg(&mut args, "cluster-signing-key-file", "");
        set_arg(&mut args, "cluster-signing-cert-file", "");
    }
    if let Some(pod_subnet) = cfg.pod_subnet.as_deref().filter(|s| !s.is_empty()) {
        set_arg(&mut args, "allocate-node-cidrs", "true");
        set_arg(&mut args, "cluster-cidr", pod_subnet);
        if !cfg.service_subnet.is_empty() {
            set_arg(&mut args, "service-cluster-ip-range", cfg.service_subnet.clone());
        }
    }
    if !cfg.cluster_name.is_empty() {
        set_arg(&mut args, "cluster-name", cfg.cluster_name.clone());
    }
    arguments_to_command(&cfg.version, KUBE_CONTROLLER_MANAGER, &args, cfg.controller_manager.extra_args.as_deref().unwrap_or_default())
}

/// `getSchedulerCommand`.
pub(crate) fn scheduler_command(cfg: &InitConfig) -> Vec<String> {
    let kubeconfig = format!("{KUBERNETES_DIR}/scheduler.conf");
    let args = vec![
        arg("bind-address", "127.0.0.1"),
        arg("leader-elect", "true"),
        arg("kubeconfig", kubeconfig.clone()),
        arg("authentication-kubeconfig", kubeconfig.clone()),
        arg("authorization-kubeconfig", kubeconfig),
    ];
    arguments_to_command(&cfg.version, KUBE_SCHEDULER, &args, cfg.scheduler.extra_args.as_deref().unwrap_or_default())
}

/// hostPath volumes and mounts per component, keyed by volume name (later entries of a name
/// replace earlier ones, as kubeadm's maps do; the Pod sorts them by name).
struct Mounts {
    by_component: BTreeMap<&'static str, BTreeMap<String, (Value, Value)>>,
}

impl Mounts {
    fn for_control_plane(cfg: &InitConfig, host_has: &dyn Fn(&str) -> bool) -> Self {
        let mut m = Self { by_component: BTreeMap::new() };
        let (dir, file) = ("DirectoryOrCreate", "FileOrCreate");
        m.add(KUBE_APISERVER, "k8s-certs", &cfg.cert_dir, &cfg.cert_dir, true, dir);
        m.add(KUBE_APISERVER, "ca-certs", CA_CERTS_PATH, CA_CERTS_PATH, true, dir);
        if let Some(external) = &cfg.etcd.external {
            let files = [&external.ca_file, &external.cert_file, &external.key_file];
            let files: Vec<&str> = files.iter().map(|f| f.as_deref().unwrap_or_default()).collect();
            for (i, cert_dir) in etcd_cert_dirs(&files, &cfg.cert_dir).iter().enumerate() {
                m.add(KUBE_APISERVER, &format!("etcd-certs-{i}"), cert_dir, cert_dir, true, dir);
            }
        }
        m.add(KUBE_CONTROLLER_MANAGER, "k8s-certs", &cfg.cert_dir, &cfg.cert_dir, true, dir);
        m.add(KUBE_CONTROLLER_MANAGER, "ca-certs", CA_CERTS_PATH, CA_CERTS_PATH, true, dir);
        let kcm_kubeconfig = format!("{KUBERNETES_DIR}/controller-manager.conf");
        m.add(KUBE_CONTROLLER_MANAGER, "kubeconfig", &kcm_kubeconfig, &kcm_kubeconfig, true, file);
        // Flexvolume plugins talk over sockets in this directory: not read-only. kubeadm v1.36
        // stopped mounting it (phases/controlplane/volumes.go of v1.35.4 vs v1.36.3).
        if !cfg.version.at_least(36) {
            let kcm_args = cfg.controller_manager.extra_args.as_deref().unwrap_or_default();
            let flexvolume = last_arg(kcm_args, "flex-volume-plugin-dir").unwrap_or(FLEXVOLUME_DIR);
            m.add(KUBE_CONTROLLER_MANAGER, "flexvolume-dir", flexvolume, flexvolume, false, dir);
        }
        let scheduler_kubeconfig = format!("{KUBERNETES_DIR}/scheduler.conf");
        m.add(KUBE_SCHEDULER, "kubeconfig", &scheduler_kubeconfig, &scheduler_kubeconfig, true, file);
        for path in CA_CERTS_EXTRA_PATHS.into_iter().filter(|p| host_has(p)) {
            let name = path.replace('/', "-")[1..].to_owned();
            m.add(KUBE_APISERVER, &name, path, path, true, dir);
            m.add(KUBE_CONTROLLER_MANAGER, &name, path, path, true, dir);
        }
        m.add_extra(KUBE_APISERVER, cfg.api_server.extra_volumes.as_deref());
        m.add_extra(KUBE_CONTROLLER_MANAGER, cfg.controller_manager.extra_volumes.as_deref());
        m.add_extra(KUBE_SCHEDULER, cfg.scheduler.extra_volumes.as_deref());
        m
    }

    fn add(&mut self, component: &'static str, name: &str, host_path: &str, mount_path: &str, read_only: bool, path_type: &str) {
        let volume = host_path_volume(name, host_path, path_type);
        let mount = volume_mount(name, mount_path, read_only);
        self.by_component.entry(component).or_default().insert(name.to_owned(), (volume, mount));
    }

    /// `AddExtraHostPathMounts`: an unset pathType is written as `type: ""`, as kubeadm does.
    fn add_extra(&mut self, component: &'static str, extra: Option<&[HostPathMount]>) {
        for volume in extra.unwrap_or_default() {
            let path_type = volume.path_type.as_deref().unwrap_or_default();
            let read_only = volume.read_only.unwrap_or(false);
            self.add(component, &volume.name, &volume.host_path, &volume.mount_path, read_only, path_type);
        }
    }

    /// Volumes and mounts of `component`, sorted by name.
    fn take(&mut self, component: &str) -> (Vec<Value>, Vec<Value>) {
        self.by_component.remove(component).unwrap_or_default().into_values().unzip()
    }
}

/// `getEtcdCertVolumes`: the directories of the external etcd's CA, cert and key that are not
/// mounted already (/etc/ssl/certs, the extra CA paths, certificatesDir); parents absorb their
/// children; sorted (`sets.List`).
fn etcd_cert_dirs(files: &[&str], cert_dir: &str) -> Vec<String> {
    let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for file in files {
        let dir = go_dir(file);
        let mounted =
            CA_CERTS_EXTRA_PATHS.iter().any(|p| dir.starts_with(p)) || dir.starts_with(CA_CERTS_PATH) || dir.starts_with(cert_dir);
        if dir == "." || mounted {
            continue;
        }
        let mut already = false;
        for existing in dirs.clone() {
            if existing.starts_with(&dir) {
                dirs.remove(&existing);
            } else if dir.starts_with(&existing) {
                already = true;
            }
        }
        if !already {
            dirs.insert(dir);
        }
    }
    dirs.into_iter().collect()
}

/// `filepath.Dir`: `.` for a bare name or "", `/` for a root file; trailing slashes dropped.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        None => ".".to_owned(),
        Some(0) => "/".to_owned(),
        Some(i) => {
            let dir = path[..i].trim_end_matches('/');
            if dir.is_empty() { "/".to_owned() } else { dir.to_owned() }
        }
    }
}
