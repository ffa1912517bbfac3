//! `upload-certs`: the certificate key's AES-GCM against a fixed vector, the files kubeadm moves,
//! the kubeadm-certs Secret owned by a short-lived token.

use serde_json::{Value, json};

use super::*;
use crate::kubeadm::certs::tests::config_with;
use crate::kubeadm::config::InitFlags;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn aes_gcm_matches_the_fixed_vector_and_round_trips() {
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let plain = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.";
    let sealed = encrypt_with_nonce(plain, &key, [0; 12], "x").unwrap();
    assert_eq!(
        hex::encode(&sealed),
        "00000000000000000000000042d3c7bbd80ceacd7bddc4157c43fdf6a063253a5ca10142e5ea9fa3a69033252b3c92d95e87ca2652a71885a8bd0a27c76061831518328b72201d2ac8b368ec2ad4bc373ba79b6d"
    );
    let random = encrypt(plain, &key, "x").unwrap();
    assert_eq!(decrypt(&random, &key, "ca.key").unwrap(), plain);
    let mut tampered = random.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(decrypt(&tampered, &key, "ca.key").unwrap_err().to_string(), "failed to decrypt \"ca.key\" with the certificate key");
    assert!(decrypt(&random[..11], &key, "x").is_err());
    assert!(decode_certificate_key("abc").is_err());
    let generated = create_certificate_key();
    assert_eq!(generated.len(), 64);
    assert!(decode_certificate_key(&generated).is_ok());
    assert_ne!(generated, create_certificate_key());
}

#[test]
fn certs_to_transfer_names_kubeadms_files() {
    let cfg = config_with(InitFlags::default(), None);
    let names: Vec<String> = certs_to_transfer(&cfg).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]);
    assert!(certs_to_transfer(&cfg).contains(&("etcd-ca.key".into(), "/etc/kubernetes/pki/etcd/ca.key".into())));
}

#[test]
fn external_etcd_files_left_unset_are_empty_values_as_in_kubeadm() {
    let yaml =
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [\"http://10.0.0.9:2379\"]\n";
    let cfg = config_with(InitFlags::default(), Some(yaml));
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    root.write("/etc/kubernetes/pki/ca.crt", b"CA CERT", 0o644).unwrap();
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let data = encrypted_files(&cfg, &root, &key).unwrap();
    assert_eq!(data["external-etcd-ca.crt"], b"", "kubeadm reads `` as a missing file");
    assert_eq!(decrypt(&data["ca.crt"], &key, "ca.crt").unwrap(), b"CA CERT");
    // A file that exists but cannot be read is an error naming it, not an empty value.
    fs_err::create_dir_all(dir.path().join("etc/kubernetes/pki/sa.key")).unwrap();
    let err = encrypted_files(&cfg, &root, &key).unwrap_err();
    assert!(err.to_string().starts_with("failed to access `/etc/kubernetes/pki/sa.key`"), "{err}");
}

#[tokio::test]
async fn upload_certs_stores_encrypted_files_owned_by_a_short_lived_token() {
    let cfg = config_with(InitFlags::default(), None);
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    root.write("/etc/kubernetes/pki/ca.crt", b"CA CERT", 0o644).unwrap();
    let token_secret_object = token_secret(&cert_token("uvwxyz.0123456789abcdef"), now()).unwrap();
    let data = json_of(&token_secret_object)["data"].clone();
    assert_eq!(data.as_object().unwrap().keys().collect::<Vec<_>>(), ["description", "expiration", "token-id", "token-secret"]);
    let mut stored = json_of(&token_secret_object);
    stored["metadata"]["uid"] = json!("1234-uid");
    let (role, binding) = kubeadm_certs_access();
    assert_eq!(json_of(&binding)["subjects"], json!([{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}]));
    let steps = vec![
        step("GET", format!("{SECRETS}/bootstrap-token-uvwxyz"), None, 404, status(404, "NotFound")),
        post(SECRETS, json_of(&token_secret_object)),
        step("GET", format!("{SECRETS}/bootstrap-token-uvwxyz"), None, 200, Some(stored)),
        Step { check: Some(check_kubeadm_certs), ..step("POST", format!("{SECRETS}?"), None, 201, None) },
        post(ROLES, json_of(&role)),
        post(BINDINGS, json_of(&binding)),
    ];
    let lines =
        scenario(steps, |c| async move { upload_certs(&c, &cfg, &root, KEY_HEX, "uvwxyz.0123456789abcdef", now()).await }).await.unwrap();
    assert_eq!(
        lines,
        [
            "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\" in the \"kube-system\" Namespace",
            "[upload-certs] Using certificate key:",
            KEY_HEX
        ]
    );
}

/// The kubeadm-certs Secret upload_certs sends: owned by the token, every file kubeadm moves,
/// `ca.crt` decrypting to the file, absent files empty.
fn check_kubeadm_certs(body: &Value) {
    assert_eq!(body["metadata"]["name"], "kubeadm-certs");
    assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "1234-uid");
    assert_eq!(body["metadata"]["ownerReferences"][0]["name"], "bootstrap-token-uvwxyz");
    let data = body["data"].as_object().unwrap();
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(keys, ["ca.crt", "ca.key", "etcd-ca.crt", "etcd-ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]);
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let sealed = crate::kubeadm::certs::pki::base64_decode(data["ca.crt"].as_str().unwrap()).unwrap();
    assert_eq!(decrypt(&sealed, &key, "ca.crt").unwrap(), b"CA CERT");
    assert!(data.iter().filter(|(k, _)| *k != "ca.crt").all(|(_, v)| v == ""), "absent files are empty values");
}

#[test]
fn kubeadm_certs_secret_is_owned_by_the_token_secret() {
    let key = decode_certificate_key(KEY_HEX).unwrap();
    let mut owner = token_secret(&cert_token("uvwxyz.0123456789abcdef"), now()).unwrap();
    owner.metadata.uid = Some("1234-uid".into());
    let data =
        std::collections::BTreeMap::from([("ca.crt".to_owned(), encrypt(b"CA", &key, "ca.crt").unwrap()), ("ca.key".to_owned(), vec![])]);
    let secret = json_of(&kubeadm_certs_secret(data, &owner));
    assert_eq!(
        secret["metadata"],
        json!({"name": "kubeadm-certs", "namespace": "kube-system", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Secret", "name": "bootstrap-token-uvwxyz", "uid": "1234-uid", "controller": true, "blockOwnerDeletion": true}]})
    );
    assert_eq!(secret["data"]["ca.key"], "");
    let sealed = crate::kubeadm::certs::pki::base64_decode(secret["data"]["ca.crt"].as_str().unwrap()).unwrap();
    assert_eq!(decrypt(&sealed, &key, "ca.crt").unwrap(), b"CA");
}

#[tokio::test]
async fn upload_certs_refuses_an_existing_token() {
    let cfg = config_with(InitFlags::default(), None);
    let root = crate::kubeadm::files::Root::new("/nonexistent");
    let steps = vec![step(
        "GET",
        format!("{SECRETS}/bootstrap-token-uvwxyz"),
        None,
        200,
        Some(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bootstrap-token-uvwxyz"}})),
    )];
    let err = scenario(steps, |c| async move { upload_certs(&c, &cfg, &root, KEY_HEX, "uvwxyz.0123456789abcdef", now()).await })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "a token with id \"uvwxyz\" already exists");
}
