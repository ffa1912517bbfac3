use std::collections::BTreeMap;

use super::*;

const TOKEN: &str = "abcdef.0123456789abcdef";

fn ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().pem()
}

fn kubeconfig(ca: &str) -> String {
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://10.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n",
        base64::engine::general_purpose::STANDARD.encode(ca)
    )
}

fn signed(kubeconfig: &str, token: &Token) -> BTreeMap<String, String> {
    BTreeMap::from([
        (KUBECONFIG_KEY.to_owned(), kubeconfig.to_owned()),
        (format!("{JWS_PREFIX}{}", token.id), detached_signature(kubeconfig, token)),
    ])
}

#[test]
fn tokens_are_kubeadms_form() {
    assert_eq!(Token::parse(TOKEN).unwrap(), Token { id: "abcdef".into(), secret: "0123456789abcdef".into() });
    for bad in ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", ""] {
        assert!(matches!(Token::parse(bad), Err(DiscoveryError::BadToken(_))), "{bad}");
    }
}

#[test]
fn the_signature_is_a_detached_hs256_jws_keyed_by_the_secret() {
    let token = Token::parse(TOKEN).unwrap();
    let jws = detached_signature("content", &token);
    let (header, signature) = jws.split_once("..").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(header).unwrap(), br#"{"alg":"HS256","kid":"abcdef"}"#);
    assert_eq!(URL_SAFE_NO_PAD.decode(signature).unwrap().len(), 32);
    assert_ne!(jws, detached_signature("content!", &token));
}

#[test]
fn cluster_info_must_carry_a_valid_signature_for_the_token() {
    let token = Token::parse(TOKEN).unwrap();
    let text = kubeconfig(&ca_pem());
    let data = signed(&text, &token);
    assert_eq!(validate_cluster_info(&data, &token).unwrap(), text);
    // Another secret, the same id: the signature does not check.
    let wrong = Token::parse("abcdef.fedcba9876543210").unwrap();
    assert!(matches!(validate_cluster_info(&data, &wrong), Err(DiscoveryError::BadSignature)));
    // A tampered kubeconfig under the old signature.
    let mut tampered = data.clone();
    tampered.insert(KUBECONFIG_KEY.into(), text.replace("10.0.0.1", "10.6.6.6"));
    assert!(matches!(validate_cluster_info(&tampered, &token), Err(DiscoveryError::BadSignature)));
    // Another token id: no signature for it.
    let other = Token::parse("zzzzzz.0123456789abcdef").unwrap();
    assert!(matches!(validate_cluster_info(&data, &other), Err(DiscoveryError::NoSignature(id)) if id == "zzzzzz"));
    assert!(matches!(validate_cluster_info(&BTreeMap::new(), &token), Err(DiscoveryError::NoKubeconfig)));
}

#[test]
fn the_ca_must_match_a_pin() {
    let ca = ca_pem();
    let hash = crate::kubeadm::api::ca_cert_hash(ca.as_bytes()).unwrap();
    Pins::parse(std::slice::from_ref(&hash)).unwrap().check_any(ca.as_bytes()).unwrap();
    Pins::parse(&[hash.to_uppercase().replacen("SHA256", "sha256", 1)]).unwrap().check_any(ca.as_bytes()).unwrap();
    let other = crate::kubeadm::api::ca_cert_hash(ca_pem().as_bytes()).unwrap();
    let err = Pins::parse(&[other]).unwrap().check_any(ca.as_bytes()).unwrap_err().to_string();
    assert!(err.contains(&format!("none of the public keys \"{hash}\" are pinned")), "{err}");
    for bad in ["sha256", "md5:00", "sha256:zz", "sha256:0011", "sha256:a:b"] {
        assert!(matches!(Pins::parse(&[bad.to_owned()]), Err(DiscoveryError::BadPin { .. })), "{bad}");
    }
    assert!(Pins::parse(&[]).unwrap().is_empty());
}

#[test]
fn the_cluster_is_read_from_the_kubeconfig() {
    let ca = ca_pem();
    let cluster = cluster_of(&kubeconfig(&ca)).unwrap();
    assert_eq!(cluster.server, "https://10.0.0.1:6443");
    assert_eq!(cluster.ca_pem, ca.as_bytes());
    assert!(cluster_of("kind: Config\n").is_err());
}
