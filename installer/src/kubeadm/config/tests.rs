use std::net::IpAddr;
use std::time::Duration;

use super::*;

fn host() -> HostFacts {
    HostFacts { hostname: "node-1".into(), default_address: Some("192.168.1.10".parse().unwrap()), cri_socket: None }
}

fn v1_31() -> Version {
    Version::parse("v1.31.2").unwrap()
}

fn resolve_text(text: &str, flags: &InitFlags) -> Result<InitConfig, ConfigError> {
    resolve(parse_documents(text, "kubeadm.yaml")?, flags, &host(), &v1_31(), ComponentImages::default())
}

#[test]
fn no_config_gives_kubeadm_defaults() {
    let cfg = resolve_text("", &InitFlags::default()).unwrap();
    assert_eq!(cfg.node_name, "node-1");
    assert_eq!(cfg.advertise_address, "192.168.1.10".parse::<IpAddr>().unwrap());
    assert_eq!(cfg.bind_port, 6443);
    assert_eq!(cfg.service_subnet, "10.96.0.0/12");
    assert_eq!(cfg.dns_domain, "cluster.local");
    assert_eq!(cfg.cert_dir, "/etc/kubernetes/pki");
    assert_eq!(cfg.cluster_name, "kubernetes");
    assert_eq!(cfg.encryption_algorithm, KeyAlgorithm::Rsa2048);
    assert_eq!(cfg.cert_validity, Duration::from_secs(365 * 86400));
    assert_eq!(cfg.ca_validity, Duration::from_secs(3650 * 86400));
    assert_eq!(cfg.cri_socket, "unix:///var/run/containerd/containerd.sock");
    assert_eq!(cfg.image_pull_policy, "IfNotPresent");
    assert_eq!(cfg.control_plane_health_timeout, Duration::from_secs(240));
    assert_eq!(cfg.local_etcd().unwrap().data_dir.as_deref(), Some("/var/lib/etcd"));
    assert_eq!(cfg.taints.len(), 1);
    assert_eq!((cfg.taints[0].key.as_str(), cfg.taints[0].effect.as_str()), ("node-role.kubernetes.io/control-plane", "NoSchedule"));
    assert_eq!(cfg.api_server_virtual_ip().unwrap().to_string(), "10.96.0.1");
    assert_eq!(cfg.dns_ip().unwrap().to_string(), "10.96.0.10");
    assert_eq!(cfg.local_api_url(), "https://192.168.1.10:6443");
    assert_eq!(cfg.control_plane_url(), "https://192.168.1.10:6443");
    assert_eq!(cfg.bootstrap_tokens.len(), 1);
    let token = &cfg.bootstrap_tokens[0];
    assert!(is_token(token.token.as_deref().unwrap()), "{token:?}");
    assert_eq!(token.ttl.as_deref(), Some("24h0m0s"));
    assert_eq!(token.groups.as_deref().unwrap(), ["system:bootstrappers:kubeadm:default-node-token"]);
    assert_eq!(cfg.cluster_document.kubernetes_version.as_deref(), Some("v1.31.2"));
}

#[test]
fn v1beta4_documents_are_read_and_flags_win() {
    let text = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.5
  bindPort: 8443
nodeRegistration:
  name: cp-0
  taints: []
  kubeletExtraArgs:
  - name: max-pods
    value: \"200\"
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.2
controlPlaneEndpoint: cp.example.com
networking:
  podSubnet: 10.244.0.0/16,fd00:10:244::/56
  serviceSubnet: 10.96.0.0/16,fd00:10:96::/112
apiServer:
  certSANs: [api.example.com]
  extraArgs:
  - name: audit-log-path
    value: /var/log/audit.log
encryptionAlgorithm: ECDSA-P256
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
";
    let flags = InitFlags { node_name: Some("cp-1".into()), cert_extra_sans: vec!["10.1.1.1".into()], ..Default::default() };
    let cfg = resolve_text(text, &flags).unwrap();
    assert_eq!(cfg.node_name, "cp-1");
    assert_eq!(cfg.advertise_address.to_string(), "10.0.0.5");
    assert_eq!(cfg.bind_port, 8443);
    assert!(cfg.taints.is_empty(), "taints: [] means none");
    assert_eq!(cfg.kubelet_extra_args, vec![Arg { name: "max-pods".into(), value: "200".into() }]);
    assert_eq!(cfg.control_plane_url(), "https://cp.example.com:8443");
    assert_eq!(cfg.control_plane_host(), Some("cp.example.com"));
    assert_eq!(cfg.pod_subnet.as_deref(), Some("10.244.0.0/16,fd00:10:244::/56"));
    assert_eq!(cfg.api_server_virtual_ip().unwrap().to_string(), "10.96.0.1");
    assert_eq!(cfg.api_server.cert_sans.as_deref().unwrap(), ["api.example.com", "10.1.1.1"]);
    assert_eq!(cfg.encryption_algorithm, KeyAlgorithm::EcdsaP256);
    assert_eq!(cfg.kubelet_configuration.as_ref().unwrap()["cgroupDriver"], "cgroupfs");
}

#[test]
fn v1beta3_is_converted_to_v1beta4() {
    let text = "\
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  timeoutForControlPlane: 2m0s
  extraArgs:
    v: \"2\"
    audit-log-path: /var/log/audit.log
etcd:
  local:
    extraArgs:
      election-timeout: \"5000\"
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
nodeRegistration:
  kubeletExtraArgs:
    node-labels: a=b
";
    let cfg = resolve_text(text, &InitFlags::default()).unwrap();
    let args = cfg.api_server.extra_args.clone().unwrap();
    assert_eq!(
        args,
        vec![Arg { name: "audit-log-path".into(), value: "/var/log/audit.log".into() }, Arg { name: "v".into(), value: "2".into() }],
        "map extraArgs become a name-sorted list"
    );
    assert_eq!(cfg.local_etcd().unwrap().extra_args.as_ref().unwrap()[0].name, "election-timeout");
    assert_eq!(cfg.kubelet_extra_args[0].value, "a=b");
    assert_eq!(cfg.control_plane_health_timeout, Duration::from_secs(120), "timeoutForControlPlane moves to timeouts");
}

#[test]
fn unknown_fields_name_the_file_and_line_of_the_whole_file() {
    let text = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnett: 10.244.0.0/16
";
    let err = resolve_text(text, &InitFlags::default()).unwrap_err().to_string();
    assert!(err.starts_with("kubeadm.yaml:7: unknown field `podSubnett`"), "{err}");
    // v1beta4-only fields are unknown in v1beta3.
    let err = resolve_text(
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nencryptionAlgorithm: RSA-2048\n",
        &InitFlags::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("kubeadm.yaml:3: unknown field `encryptionAlgorithm`"), "{err}");
}

#[test]
fn wrong_kinds_versions_and_values_are_refused() {
    let bad = |text: &str, expected: &str| {
        let err = resolve_text(text, &InitFlags::default()).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}\n=> {err}");
    };
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: Cluster\n", "Cluster of kubeadm.k8s.io/v1beta4 is not supported");
    bad("apiVersion: v1\nkind: Pod\n", "unknown document v1, Kind=Pod");
    bad("kind: InitConfiguration\n", "document without apiVersion and kind");
    bad("apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n", "kubeadm.k8s.io/v1beta2 is not supported");
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.32.0\n", "the bundle is for v1.31.2");
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P384\n", "ECDSA-P384");
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0/99\n", "not a valid CIDR");
    bad(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 1.2.3\n",
        "is not a valid textual representation of an IP address",
    );
    bad(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
        "kubeadm.yaml:4: a second InitConfiguration",
    );
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: Node_1\n", "not a valid node name");
    bad("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: short\n", "does not match");
    bad(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  local: {}\n  external:\n    endpoints: [https://e:2379]\n",
        "either local or external",
    );
    // A JoinConfiguration in an init config is ignored, as kubeadm does.
    assert!(resolve_text("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n", &InitFlags::default()).is_ok());
}

#[test]
fn ecdsa_p384_needs_kubernetes_1_34() {
    let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P384\n";
    let docs = parse_documents(text, "k.yaml").unwrap();
    let cfg = resolve(docs, &InitFlags::default(), &host(), &Version::parse("v1.34.1").unwrap(), ComponentImages::default()).unwrap();
    assert_eq!(cfg.encryption_algorithm, KeyAlgorithm::EcdsaP384);
}

#[test]
fn ipv6_endpoints_are_bracketed() {
    let flags = InitFlags {
        advertise_address: Some("2001:db8::1".into()),
        service_cidr: Some("fd00:10:96::/112".into()),
        control_plane_endpoint: Some("[2001:db8::100]:7443".into()),
        ..Default::default()
    };
    let cfg = resolve_text("", &flags).unwrap();
    assert!(cfg.is_ipv6());
    assert_eq!(cfg.local_api_url(), "https://[2001:db8::1]:6443");
    assert_eq!(cfg.control_plane_url(), "https://[2001:db8::100]:7443");
    assert_eq!(cfg.api_server_virtual_ip().unwrap().to_string(), "fd00:10:96::1");
    assert_eq!(cfg.dns_ip().unwrap().to_string(), "fd00:10:96::a");
}

#[test]
fn no_default_route_and_no_address_says_which_flag() {
    let host = HostFacts { default_address: None, ..host() };
    let err = resolve(Documents::default(), &InitFlags::default(), &host, &v1_31(), ComponentImages::default()).unwrap_err().to_string();
    assert!(err.contains("--apiserver-advertise-address"), "{err}");
}

#[test]
fn go_durations_parse() {
    assert_eq!(parse_duration("8760h0m0s"), Some(Duration::from_secs(8760 * 3600)));
    assert_eq!(parse_duration("4m"), Some(Duration::from_secs(240)));
    assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
    assert_eq!(parse_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_duration("10 days"), None);
    assert_eq!(parse_duration("5x"), None);
}

#[test]
fn generated_tokens_have_kubeadm_form_and_differ() {
    let (a, b) = (generate_token(), generate_token());
    assert!(is_token(&a) && is_token(&b), "{a} {b}");
    assert_ne!(a, b);
    assert!(!is_token("abcdef.0123456789ABCDEF"));
}

#[test]
fn versions_parse_and_compare() {
    let v = Version::parse("1.34.0-rc.1").unwrap();
    assert_eq!((v.major, v.minor, v.patch, v.text.as_str()), (1, 34, 0, "v1.34.0-rc.1"));
    assert!(v.at_least(34) && !v.at_least(35));
    assert!(Version::parse("v1.31").is_none());
}

#[test]
fn init_defaults_print_like_kubeadm_and_read_back() {
    let text = init_defaults_yaml(Some("v1.31.2"), None).unwrap();
    assert!(text.starts_with("apiVersion: kubeadm.k8s.io/v1beta4\nbootstrapTokens:\n- groups:\n  - system:bootstrappers:kubeadm:default-node-token\n  token: abcdef.0123456789abcdef\n"), "{text}");
    assert!(text.contains("  name: node\n  taints: null\ntimeouts:\n  controlPlaneComponentHealthCheck: 4m0s\n"), "{text}");
    assert!(text.contains("---\napiServer: {}\napiVersion: kubeadm.k8s.io/v1beta4\ncaCertificateValidityPeriod: 87600h0m0s\n"), "{text}");
    assert!(
        text.contains(
            "kubernetesVersion: v1.31.2\nnetworking:\n  dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\nproxy: {}\nscheduler: {}\n"
        ),
        "{text}"
    );
    // What it prints is a valid config for init.
    let cfg = resolve_text(&text, &InitFlags::default()).unwrap();
    assert_eq!(cfg.advertise_address.to_string(), "1.2.3.4");
    assert_eq!(cfg.node_name, "node");
    assert_eq!(cfg.taints.len(), 1, "taints: null means the default control-plane taint");
}

#[test]
fn allowed_flags_apply_over_the_file_as_kubeadm_applies_them() {
    let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nskipPhases: [addon/kube-proxy]\nnodeRegistration:\n  name: from-file\n  ignorePreflightErrors: [Swap]\n";
    let flags = InitFlags {
        node_name: Some("from-flag".into()),
        ignore_preflight_errors: vec!["NumCPU".into()],
        skip_phases: vec!["addon/coredns".into()],
        ..InitFlags::default()
    };
    let cfg = resolve_text(text, &flags).unwrap();
    assert_eq!(cfg.node_name, "from-flag", "--node-name wins");
    assert_eq!(cfg.ignore_preflight_errors, ["swap", "numcpu"], "--ignore-preflight-errors adds to the file's");
    assert_eq!(cfg.skip_phases, ["addon/coredns"], "--skip-phases replaces the file's");
    assert_eq!(resolve_text(text, &InitFlags::default()).unwrap().skip_phases, ["addon/kube-proxy"]);
}

#[test]
fn node_paths_name_their_field_or_flag() {
    let cfg = resolve_text("", &InitFlags::default()).unwrap();
    assert_eq!(
        cfg.node_paths(&InitFlags::default()),
        [("certificatesDir", "/etc/kubernetes/pki"), ("etcd.local.dataDir", "/var/lib/etcd")]
    );
    let flags = InitFlags { cert_dir: Some("/../pki".into()), ..InitFlags::default() };
    let cfg = resolve_text("", &flags).unwrap();
    assert_eq!(cfg.node_paths(&flags)[0], ("--cert-dir", "/../pki"));
    let text = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [\"https://e:2379\"]\n    caFile: /../ca.crt\n";
    let cfg = resolve_text(text, &InitFlags::default()).unwrap();
    assert_eq!(cfg.node_paths(&InitFlags::default())[1], ("etcd.external.caFile", "/../ca.crt"));
}

#[test]
fn a_taint_time_that_does_not_parse_is_refused_not_dropped() {
    let taints = |at: &str| {
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  taints:\n  - key: a\n    effect: NoSchedule\n    timeAdded: \"{at}\"\n"
        )
    };
    let cfg = resolve_text(&taints("2024-05-01T10:00:00Z"), &InitFlags::default()).unwrap();
    assert_eq!(cfg.taints[0].time_added.as_deref(), Some("2024-05-01T10:00:00Z"));
    let err = resolve_text(&taints("yesterday"), &InitFlags::default()).unwrap_err().to_string();
    assert!(err.contains("nodeRegistration.taints[0].timeAdded: `yesterday` is not an RFC 3339 time"), "{err}");
}

#[test]
fn feature_gates_are_the_releases_own() {
    let at = |version: &str, text: &str| {
        resolve(
            parse_documents(text, "kubeadm.yaml").unwrap(),
            &InitFlags::default(),
            &host(),
            &Version::parse(version).unwrap(),
            ComponentImages::default(),
        )
    };
    let gate = |name: &str| format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nfeatureGates:\n  {name}: false\n");
    // Defaults as each release's features.go has them.
    assert!(!at("v1.33.13", "").unwrap().feature("NodeLocalCRISocket"));
    assert!(at("v1.34.4", "").unwrap().feature("NodeLocalCRISocket"));
    assert!(!at("v1.34.4", &gate("NodeLocalCRISocket")).unwrap().feature("NodeLocalCRISocket"));
    assert!(at("v1.37.2", "").unwrap().feature("NodeLocalCRISocket"), "removed after GA: always on");
    // kubeadm v1.37 removed the gate and refuses its name; an unknown name is refused anywhere.
    let err = at("v1.37.2", &gate("NodeLocalCRISocket")).unwrap_err().to_string();
    assert!(err.contains("NodeLocalCRISocket is not a valid feature name of kubeadm v1.37 (known: RootlessControlPlane)"), "{err}");
    let err = resolve_text(&gate("NoSuchGate"), &InitFlags::default()).unwrap_err().to_string();
    assert!(err.contains("NoSuchGate is not a valid feature name of kubeadm v1.31"), "{err}");
    let flags = InitFlags { feature_gates: Some("ControlPlaneKubeletLocalMode=false".into()), ..Default::default() };
    assert!(!resolve_text("", &flags).unwrap().feature("ControlPlaneKubeletLocalMode"));
}
