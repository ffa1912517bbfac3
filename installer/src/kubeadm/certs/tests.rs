//! Unit tests of the `certs` phase: the cert table, SAN and subject rules read back from the
//! produced DER, reuse and external-CA behaviour on a temp root.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, SystemTime};

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::X509Certificate;

use super::*;
use crate::kubeadm::InitConfig;
use crate::kubeadm::config::{self, ComponentImages, Documents, HostFacts, InitFlags, Version};
use crate::kubeadm::files::Root;

pub(crate) fn config_with(flags: InitFlags, cluster_yaml: Option<&str>) -> InitConfig {
    let docs = match cluster_yaml {
        Some(yaml) => config::parse_documents(yaml, "test.yaml").unwrap(),
        None => Documents::default(),
    };
    let host = HostFacts { hostname: "node-1".into(), default_address: Some("10.0.0.5".parse().unwrap()), cri_socket: None };
    config::resolve(docs, &flags, &host, &Version::parse("v1.31.2").unwrap(), ComponentImages::default()).unwrap()
}

fn now() -> SystemTime {
    // Whole seconds, as certificates store them.
    SystemTime::UNIX_EPOCH + Duration::from_secs(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
}

fn cert_der(root: &Root, cfg: &InitConfig, base: &str) -> Vec<u8> {
    pki::first_certificate(&root.read(cfg.cert_path(&format!("{base}.crt"))).unwrap().unwrap()).unwrap()
}

fn subject(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>) {
    let cn = cert.subject().iter_common_name().map(|a| a.as_str().unwrap().to_owned()).collect();
    let o = cert.subject().iter_organization().map(|a| a.as_str().unwrap().to_owned()).collect();
    (cn, o)
}

fn ext_key_usage(cert: &X509Certificate<'_>) -> (bool, bool) {
    match cert.extended_key_usage() {
        Ok(Some(eku)) => (eku.value.server_auth, eku.value.client_auth),
        _ => (false, false),
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

#[test]
fn table_follows_default_cert_list_and_phase_names() {
    let names: Vec<&str> = CERTS.iter().map(|c| c.name).chain([SA]).collect();
    let phases: Vec<&str> = phase_names().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, phases);
    for spec in CERTS {
        if let Some(ca) = spec.ca {
            let ca_spec = CERTS.iter().position(|c| c.name == ca).expect("ca names a row");
            assert!(CERTS[ca_spec].ca.is_none() && ca_spec < CERTS.iter().position(|c| c == spec).unwrap());
        }
    }
}

#[test]
fn api_server_sans_are_sorted_with_ips_in_kubeadm_order() {
    let cfg = config_with(InitFlags::default(), None);
    let (names, warnings) = sans::api_server(&cfg).unwrap();
    assert_eq!(
        names.dns_names,
        ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "node-1"]
    );
    assert_eq!(names.ips, ips(&["10.96.0.1", "10.0.0.5"]));
    assert!(warnings.is_empty());
}

#[test]
fn extra_sans_are_split_deduplicated_and_invalid_ones_warned() {
    let flags = InitFlags {
        control_plane_endpoint: Some("lb.example.com:8443".into()),
        cert_extra_sans: vec![
            "10.0.0.5".into(),
            "*.apps.example.com".into(),
            "Not_Valid".into(),
            "010.001.0.9".into(),
            "lb.example.com".into(),
        ],
        ..Default::default()
    };
    let cfg = config_with(flags, None);
    let (names, warnings) = sans::api_server(&cfg).unwrap();
    assert_eq!(
        names.dns_names,
        [
            "*.apps.example.com",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "lb.example.com",
            "node-1"
        ]
    );
    assert_eq!(names.ips, ips(&["10.96.0.1", "10.0.0.5", "10.1.0.9"]));
    assert_eq!(
        warnings,
        [
            "[certificates] WARNING: 'Not_Valid' was not added to the 'apiserver.crt' SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"
        ]
    );
}

#[test]
fn control_plane_endpoint_ip_goes_to_the_ip_sans() {
    let flags = InitFlags {
        control_plane_endpoint: Some("[fd00::10]:6443".into()),
        advertise_address: Some("fd00::5".into()),
        ..Default::default()
    };
    let cfg = config_with(flags, Some(CLUSTER_V6));
    let (names, _) = sans::api_server(&cfg).unwrap();
    assert_eq!(names.ips, ips(&["fd00:10:96::1", "fd00::5", "fd00::10"]));
    let (etcd, _) = sans::etcd(&cfg, true);
    assert_eq!(etcd.dns_names, ["etcd.example.com", "localhost", "node-1"]);
    assert_eq!(etcd.ips, ips(&["fd00::5", "127.0.0.1", "::1", "192.0.2.7"]));
    let (peer, _) = sans::etcd(&cfg, false);
    assert_eq!(peer.dns_names, ["localhost", "node-1"]);
    assert_eq!(peer.ips, ips(&["fd00::5", "127.0.0.1", "::1"]));
}

const CLUSTER_V6: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: fd00:10:96::/112\netcd:\n  local:\n    serverCertSANs: [etcd.example.com, 192.0.2.7]\n";

#[test]
fn generates_every_certificate_with_kubeadm_fields() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config_with(InitFlags::default(), None);
    let now = now();
    let out = run(&cfg, &root, "all", now).unwrap();
    assert_eq!(out[0], r#"[certs] Using certificateDir folder "/etc/kubernetes/pki""#);
    assert!(out.contains(&r#"[certs] Generating "etcd/ca" certificate and key"#.to_owned()), "{out:#?}");
    assert!(out.contains(&"[certs] apiserver serving cert is signed for DNS names [kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local node-1] and IPs [10.96.0.1 10.0.0.5]".to_owned()), "{out:#?}");
    assert!(out.contains(
        &"[certs] etcd/server serving cert is signed for DNS names [localhost node-1] and IPs [10.0.0.5 127.0.0.1 ::1]".to_owned()
    ));
    assert_eq!(out.last().unwrap(), r#"[certs] Generating "sa" key and public key"#);

    // (file base, CN, O, is CA, (ServerAuth, ClientAuth))
    type Expected<'a> = (&'a str, &'a str, &'a [&'a str], bool, (bool, bool));
    let expected: &[Expected<'_>] = &[
        ("ca", "kubernetes", &[], true, (false, false)),
        ("apiserver", "kube-apiserver", &[], false, (true, false)),
        ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", &["kubeadm:cluster-admins"], false, (false, true)),
        ("front-proxy-ca", "front-proxy-ca", &[], true, (false, false)),
        ("front-proxy-client", "front-proxy-client", &[], false, (false, true)),
        ("etcd/ca", "etcd-ca", &[], true, (false, false)),
        ("etcd/server", "node-1", &[], false, (true, true)),
        ("etcd/peer", "node-1", &[], false, (true, true)),
        ("etcd/healthcheck-client", "kube-etcd-healthcheck-client", &[], false, (false, true)),
        ("apiserver-etcd-client", "kube-apiserver-etcd-client", &[], false, (false, true)),
    ];
    let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64;
    for (base, cn, o, is_ca, eku) in expected {
        let der = cert_der(&root, &cfg, base);
        let cert = pki::parse(&der).unwrap();
        assert_eq!(subject(&cert), (vec![cn.to_string()], o.iter().map(|s| s.to_string()).collect()), "{base}");
        assert_eq!(cert.is_ca(), *is_ca, "{base}");
        assert_eq!(ext_key_usage(&cert), *eku, "{base}");
        let usage = cert.key_usage().unwrap().unwrap();
        assert!(usage.critical && usage.value.digital_signature() && usage.value.key_encipherment(), "{base}");
        assert_eq!(usage.value.key_cert_sign(), *is_ca, "{base}");
        let bc = cert.basic_constraints().unwrap().expect("basic constraints");
        assert!(bc.critical && bc.value.ca == *is_ca, "{base}");
        assert_eq!(cert.validity().not_before.timestamp(), unix(now) - 300, "{base}");
        let validity = if *is_ca { 87600 * 3600 } else { 8760 * 3600 };
        assert_eq!(cert.validity().not_after.timestamp(), unix(now) + validity, "{base}");
        let serial = cert.serial.to_u64_digits();
        assert!(serial.len() == 1 && serial[0] > 0 && serial[0] < 1 << 63, "{base}: serial {serial:?}");
        let has_ski = cert.extensions().iter().any(|e| matches!(e.parsed_extension(), ParsedExtension::SubjectKeyIdentifier(_)));
        assert_eq!(has_ski, *is_ca, "{base}: Go writes an SKI on CAs only");
        if *is_ca {
            assert_eq!(pki::alt_names(&der).unwrap(), (vec![cn.to_string()], vec![]), "{base}: CA carries its CN as DNS SAN");
        } else {
            let ca = cert_der(
                &root,
                &cfg,
                if base.starts_with("etcd/") || base.contains("etcd") {
                    "etcd/ca"
                } else if base.starts_with("front") {
                    "front-proxy-ca"
                } else {
                    "ca"
                },
            );
            pki::check_signed_by(&der, &ca, now).unwrap();
        }
        let key = root.read(cfg.cert_path(&format!("{base}.key"))).unwrap().unwrap();
        assert!(key.starts_with(b"-----BEGIN RSA PRIVATE KEY-----\n"), "{base}");
        let mode =
            |ext| fs_err::metadata(root.path(cfg.cert_path(&format!("{base}.{ext}"))).unwrap()).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode("key"), mode("crt")), (0o600, 0o644), "{base}");
    }
    let sa_pub = root.read(cfg.cert_path("sa.pub")).unwrap().unwrap();
    assert!(sa_pub.starts_with(b"-----BEGIN PUBLIC KEY-----\n"));
}

#[test]
fn ecdsa_keys_are_sec1_with_their_curve_and_certs_signed_with_them() {
    for (algorithm, curve_oid) in
        [("ECDSA-P256", [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07].as_slice()), ("ECDSA-P384", &[0x2b, 0x81, 0x04, 0x00, 0x22])]
    {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let yaml = format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: {algorithm}\n");
        let docs = config::parse_documents(&yaml, "t.yaml").unwrap();
        let host = HostFacts { hostname: "node-1".into(), default_address: Some("10.0.0.5".parse().unwrap()), cri_socket: None };
        let cfg =
            config::resolve(docs, &InitFlags::default(), &host, &Version::parse("v1.34.0").unwrap(), ComponentImages::default()).unwrap();
        run(&cfg, &root, "all", now()).unwrap();
        let key = String::from_utf8(root.read(cfg.cert_path("apiserver.key")).unwrap().unwrap()).unwrap();
        assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"), "{algorithm}: {key}");
        let der = x509_parser::pem::parse_x509_pem(key.as_bytes()).unwrap().1.contents;
        assert!(der.windows(curve_oid.len()).any(|w| w == curve_oid), "{algorithm}: SEC1 key names its curve");
        pki::parse_private_key(key.as_bytes()).unwrap();
        pki::check_signed_by(&cert_der(&root, &cfg, "apiserver"), &cert_der(&root, &cfg, "ca"), now()).unwrap();
    }
}

#[test]
fn second_run_reuses_everything_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    run(&cfg, &root, "all", now()).unwrap();
    let before = snapshot(dir.path());
    let out = run(&cfg, &root, "all", now()).unwrap();
    assert_eq!(snapshot(dir.path()), before);
    assert!(out.contains(&"[certs] Using existing ca certificate authority".to_owned()), "{out:#?}");
    assert!(out.contains(&"[certs] Using existing etcd/server certificate and key on disk".to_owned()), "{out:#?}");
    assert!(out.contains(&r#"[certs] Using the existing "sa" key"#.to_owned()), "{out:#?}");
}

const ECDSA: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\n";

pub(crate) fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>, u32)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = fs_err::metadata(&path).unwrap().permissions().mode();
                files.push((path.clone(), fs_err::read(&path).unwrap(), mode));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn existing_apiserver_cert_without_a_new_san_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    run(&config_with(InitFlags::default(), Some(ECDSA)), &root, "all", now()).unwrap();
    let flags = InitFlags { cert_extra_sans: vec!["api.example.com".into()], ..Default::default() };
    let err = run(&config_with(flags, Some(ECDSA)), &root, "apiserver", now()).unwrap_err();
    assert_eq!(err.to_string(), "`/etc/kubernetes/pki/apiserver.crt` exists but cannot be used: replace or remove it");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the certificate is not valid for api.example.com: it lacks this SAN");
}

#[test]
fn leaf_signed_by_another_ca_is_refused() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    run(&cfg, &Root::new(one.path()), "all", now()).unwrap();
    run(&cfg, &Root::new(two.path()), "all", now()).unwrap();
    let other = Root::new(two.path());
    let root = Root::new(one.path());
    for file in ["front-proxy-client.crt", "front-proxy-client.key"] {
        root.write(cfg.cert_path(file), &other.read(cfg.cert_path(file)).unwrap().unwrap(), 0o600).unwrap();
    }
    let err = run(&cfg, &root, "front-proxy-client", now()).unwrap_err();
    assert_eq!(err.to_string(), "`/etc/kubernetes/pki/front-proxy-client.crt` exists but cannot be used: replace or remove it");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "certificate is not signed by the CA `CN=front-proxy-ca`");
}

#[test]
fn external_ca_needs_every_leaf_it_signs() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    run(&cfg, &root, "ca", now()).unwrap();
    fs_err::remove_file(root.path(cfg.cert_path("ca.key")).unwrap()).unwrap();
    assert!(using_external_ca(&cfg, &root));
    let err = run(&cfg, &root, "all", now()).unwrap_err();
    assert_eq!(err.to_string(), r#"could not load expected certificate "apiserver" or validate the existence of key "ca" for it"#);
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "`/etc/kubernetes/pki/apiserver.crt` does not exist");
}

#[test]
fn external_ca_with_its_leaves_in_place_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    run(&cfg, &root, "all", now()).unwrap();
    fs_err::remove_file(root.path(cfg.cert_path("ca.key")).unwrap()).unwrap();
    let before = snapshot(dir.path());
    let out = run(&cfg, &root, "all", now()).unwrap();
    assert_eq!(snapshot(dir.path()), before);
    assert!(out.contains(&"[certs] Using existing ca keyless certificate authority".to_owned()), "{out:#?}");
    assert_eq!(out.last().unwrap(), "[certs] Using existing sa keys");
}

#[test]
fn external_etcd_skips_the_etcd_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\netcd:\n  external:\n    endpoints: [https://10.0.0.9:2379]\n";
    let cfg = config_with(InitFlags::default(), Some(yaml));
    let out = run(&cfg, &Root::new(dir.path()), "all", now()).unwrap();
    assert!(out.contains(&"[certs] External etcd mode: Skipping etcd/ca certificate authority generation".to_owned()));
    assert!(out.contains(&"[certs] External etcd mode: Skipping apiserver-etcd-client certificate generation".to_owned()));
    assert!(!dir.path().join("etc/kubernetes/pki/etcd").exists());
}

#[test]
fn ca_key_of_an_unsupported_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    run(&cfg, &root, "ca", now()).unwrap();
    let ed25519 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap().serialize_pem();
    root.write(cfg.cert_path("ca.key"), ed25519.as_bytes(), 0o600).unwrap();
    let err = run(&cfg, &root, "apiserver", now()).unwrap_err();
    assert_eq!(err.to_string(), "`/etc/kubernetes/pki/ca.key` exists but cannot be used: replace or remove it");
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the private key is neither in RSA nor ECDSA format");
}

#[test]
fn unknown_phase_and_missing_ca_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(InitFlags::default(), Some(ECDSA));
    let root = Root::new(dir.path());
    assert!(run(&cfg, &root, "apiserver-kubelet", now()).unwrap_err().to_string().starts_with("`apiserver-kubelet` is not a certs phase"));
    assert_eq!(
        run(&cfg, &root, "apiserver", now()).unwrap_err().to_string(),
        "couldn't load CA certificate ca: `/etc/kubernetes/pki/ca.crt` does not exist: run the `certs/ca` phase first"
    );
}

#[test]
fn base64_round_trips_and_matches_known_vectors() {
    for (plain, encoded) in
        [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
    {
        assert_eq!(pki::base64_encode(plain.as_bytes()), encoded);
        assert_eq!(pki::base64_decode(encoded).unwrap(), plain.as_bytes());
    }
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(pki::base64_decode(&pki::base64_encode(&bytes)).unwrap(), bytes);
    assert_eq!(pki::base64_decode("Zm9v!"), None);
    assert_eq!(pki::base64_decode("Z"), None);
}
