//! Unit tests of the `kubeconfig` phase: client-go's file shape, users and servers, reuse, wrong
//! CA, external CA.

use std::os::unix::fs::PermissionsExt as _;
use std::time::SystemTime;

use super::*;
use crate::kubeadm::certs;
use crate::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags, Version};

const ECDSA: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\n";

fn config_with(flags: InitFlags) -> InitConfig {
    let docs = config::parse_documents(ECDSA, "test.yaml").unwrap();
    let host = HostFacts { hostname: "node-1".into(), default_address: Some("10.0.0.5".parse().unwrap()), cri_socket: None };
    config::resolve(docs, &flags, &host, &Version::parse("v1.31.2").unwrap(), ComponentImages::default()).unwrap()
}

fn with_ca(cfg: &InitConfig) -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    certs::run(cfg, &root, "ca", SystemTime::now()).unwrap();
    (dir, root)
}

#[test]
fn renders_the_file_as_client_go_writes_it() {
    let credentials = Credentials { ca: "CA\n".into(), cert: "CERT\n".into(), key: "KEY\n".into() };
    let text = render("kubernetes", "https://10.0.0.5:6443", "system:node:node-1", &credentials, 31).unwrap();
    assert_eq!(
        text,
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EK
    server: https://10.0.0.5:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node:node-1
  name: system:node:node-1@kubernetes
current-context: system:node:node-1@kubernetes
kind: Config
preferences: {}
users:
- name: system:node:node-1
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
"
    );
    let long = Credentials { ca: "x".repeat(3000), ..credentials.clone() };
    let text = render("kubernetes", "https://[fd00::1]:6443", "kubernetes-admin", &long, 31).unwrap();
    assert!(text.contains(&format!("    certificate-authority-data: {}\n", pki::base64_encode("x".repeat(3000).as_bytes()))), "{text}");
    let from_v1_34 = render("kubernetes", "https://10.0.0.5:6443", "system:node:node-1", &credentials, 34).unwrap();
    let v1_31 = render("kubernetes", "https://10.0.0.5:6443", "system:node:node-1", &credentials, 31).unwrap();
    assert_eq!(from_v1_34, v1_31.replace("preferences: {}\n", ""), "client-go v0.34 leaves empty preferences out");
}

#[test]
fn writes_every_file_with_its_user_group_and_server() {
    let flags = InitFlags { control_plane_endpoint: Some("lb.example.com".into()), ..Default::default() };
    let cfg = config_with(flags);
    let (dir, root) = with_ca(&cfg);
    let now = SystemTime::now();
    let out = run(&cfg, &root, "all", now).unwrap();
    assert_eq!(
        out,
        [
            r#"[kubeconfig] Using kubeconfig folder "/etc/kubernetes""#,
            r#"[kubeconfig] Writing "admin.conf" kubeconfig file"#,
            r#"[kubeconfig] Writing "super-admin.conf" kubeconfig file"#,
            r#"[kubeconfig] Writing "kubelet.conf" kubeconfig file"#,
            r#"[kubeconfig] Writing "controller-manager.conf" kubeconfig file"#,
            r#"[kubeconfig] Writing "scheduler.conf" kubeconfig file"#,
        ]
    );
    let ca_der = pki::first_certificate(&root.read("/etc/kubernetes/pki/ca.crt").unwrap().unwrap()).unwrap();
    let expected = [
        ("admin.conf", "kubernetes-admin", Some("kubeadm:cluster-admins"), "https://lb.example.com:6443"),
        ("super-admin.conf", "kubernetes-super-admin", Some("system:masters"), "https://lb.example.com:6443"),
        ("kubelet.conf", "system:node:node-1", Some("system:nodes"), "https://lb.example.com:6443"),
        ("controller-manager.conf", "system:kube-controller-manager", None, "https://10.0.0.5:6443"),
        ("scheduler.conf", "system:kube-scheduler", None, "https://10.0.0.5:6443"),
    ];
    for (file, user, group, server) in expected {
        let path = dir.path().join("etc/kubernetes").join(file);
        assert_eq!(fs_err::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
        let config: Value = serde_saphyr::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(config["current-context"], format!("{user}@kubernetes"), "{file}");
        assert_eq!(config["clusters"][0]["cluster"]["server"], server, "{file}");
        assert_eq!(config["users"][0]["name"], user, "{file}");
        let data = |field: &str| pki::base64_decode(config["users"][0]["user"][field].as_str().unwrap()).unwrap();
        let cert = pki::first_certificate(&data("client-certificate-data")).unwrap();
        pki::check_signed_by(&cert, &ca_der, now).unwrap();
        let key = pki::parse_private_key(&data("client-key-data")).unwrap();
        pki::check_key_matches(&cert, &key).unwrap();
        let parsed = pki::parse(&cert).unwrap();
        let cn: Vec<_> = parsed.subject().iter_common_name().map(|a| a.as_str().unwrap()).collect();
        let o: Vec<_> = parsed.subject().iter_organization().map(|a| a.as_str().unwrap()).collect();
        assert_eq!((cn, o), (vec![user], group.into_iter().collect::<Vec<_>>()), "{file}");
        let eku = parsed.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth, "{file}");
    }
}

#[test]
fn existing_files_with_the_same_ca_are_kept_and_another_ca_is_refused() {
    let cfg = config_with(InitFlags::default());
    let (dir, root) = with_ca(&cfg);
    run(&cfg, &root, "all", SystemTime::now()).unwrap();
    let before = crate::kubeadm::certs::tests::snapshot(dir.path());
    let out = run(&cfg, &root, "admin", SystemTime::now()).unwrap();
    assert_eq!(out, [r#"[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/admin.conf""#]);
    assert_eq!(crate::kubeadm::certs::tests::snapshot(dir.path()), before);

    let moved = config_with(InitFlags { bind_port: Some(7443), ..Default::default() });
    let out = run(&moved, &root, "scheduler", SystemTime::now()).unwrap();
    assert_eq!(
        out[0],
        r#"[kubeconfig] WARNING: a kubeconfig file "/etc/kubernetes/scheduler.conf" exists already but has an unexpected API Server URL: expected: https://10.0.0.5:7443, got: https://10.0.0.5:6443"#
    );

    let (_other_dir, other) = with_ca(&cfg);
    run(&cfg, &other, "kubelet", SystemTime::now()).unwrap();
    root.write("/etc/kubernetes/kubelet.conf", &other.read("/etc/kubernetes/kubelet.conf").unwrap().unwrap(), 0o600).unwrap();
    let err = run(&cfg, &root, "all", SystemTime::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"a kubeconfig file "/etc/kubernetes/kubelet.conf" exists already but has got the wrong CA cert: remove it to have it regenerated"#
    );
}

#[test]
fn external_ca_uses_the_files_in_place_and_needs_them() {
    let cfg = config_with(InitFlags::default());
    let (_dir, root) = with_ca(&cfg);
    run(&cfg, &root, "admin", SystemTime::now()).unwrap();
    fs_err::remove_file(root.path("/etc/kubernetes/pki/ca.key").unwrap()).unwrap();
    assert_eq!(run(&cfg, &root, "admin", SystemTime::now()).unwrap(), ["[kubeconfig] External CA mode: Using user provided admin.conf"]);
    let err = run(&cfg, &root, "all", SystemTime::now()).unwrap_err();
    assert_eq!(err.to_string(), "the super-admin.conf file does not exists or it is not valid");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "`/etc/kubernetes/super-admin.conf` does not exist");
}

#[test]
fn needs_the_ca_and_a_known_phase() {
    let cfg = config_with(InitFlags::default());
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    assert!(
        run(&cfg, &root, "kube-proxy", SystemTime::now()).unwrap_err().to_string().starts_with("`kube-proxy` is not a kubeconfig phase")
    );
    assert_eq!(
        run(&cfg, &root, "admin", SystemTime::now()).unwrap_err().to_string(),
        "the CA file `/etc/kubernetes/pki/ca.crt` does not exist: run the `certs/ca` phase first"
    );
}
