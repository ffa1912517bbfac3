//! What `init` prints for joining: the CA pin against pubkeypin's test vector, and kubeadm's
//! join command template.

use super::*;

const TEST_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDRDCCAiygAwIBAgIJAJgVaCXvC6HkMA0GCSqGSIb3DQEBBQUAMB8xHTAbBgNV
BAMTFGt1YmVhZG0ta2V5cGlucy10ZXN0MCAXDTE3MDcwNTE3NDMxMFoYDzIxMTcw
NjExMTc0MzEwWjAfMR0wGwYDVQQDExRrdWJlYWRtLWtleXBpbnMtdGVzdDCCASIw
DQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAK0ba8mHU9UtYlzM1Own2Fk/XGjR
J4uJQvSeGLtz1hID1IA0dLwruvgLCPadXEOw/f/IWIWcmT+ZmvIHZKa/woq2iHi5
+HLhXs7aG4tjKGLYhag1hLjBI7icqV7ovkjdGAt9pWkxEzhIYClFMXDjKpMSynu+
YX6nZ9tic1cOkHmx2yiZdMkuriRQnpTOa7bb03OC1VfGl7gHlOAIYaj4539WCOr8
+ACTUMJUFEHcRZ2o8a/v6F9GMK+7SC8SJUI+GuroXqlMAdhEv4lX5Co52enYaClN
+D9FJLRpBv2YfiCQdJRaiTvCBSxEFz6BN+PtP5l2Hs703ZWEkOqCByM6HV8CAwEA
AaOBgDB+MB0GA1UdDgQWBBRQgUX8MhK2rWBWQiPHWcKzoWDH5DBPBgNVHSMESDBG
gBRQgUX8MhK2rWBWQiPHWcKzoWDH5KEjpCEwHzEdMBsGA1UEAxMUa3ViZWFkbS1r
ZXlwaW5zLXRlc3SCCQCYFWgl7wuh5DAMBgNVHRMEBTADAQH/MA0GCSqGSIb3DQEB
BQUAA4IBAQCaAUif7Pfx3X0F08cxhx8/Hdx4jcJw6MCq6iq6rsXM32ge43t8OHKC
pJW08dk58a3O1YQSMMvD6GJDAiAfXzfwcwY6j258b1ZlI9Ag0VokvhMl/XfdCsdh
AWImnL1t4hvU5jLaImUUMlYxMcSfHBGAm7WJIZ2LdEfg6YWfZh+WGbg1W7uxLxk6
y4h5rWdNnzBHWAGf7zJ0oEDV6W6RSwNXtC0JNnLaeIUm/6xdSddJlQPwUv8YH4jX
c1vuFqTnJBPcb7W//R/GI2Paicm1cmns9NLnPR35exHxFTy+D1yxmGokpoPMdife
aH+sfuxT8xeTPb3kjzF9eJTlnEquUDLM
-----END CERTIFICATE-----
";

#[test]
fn ca_cert_hash_matches_pubkeypin_test_vector() {
    assert_eq!(ca_cert_hash(TEST_CERT_PEM.as_bytes()).unwrap(), "sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3");
    assert!(ca_cert_hash(b"not a pem").is_err());
}

#[test]
fn join_commands_are_kubeadms_template() {
    let hashes = ["sha256:abc".to_owned()];
    let join = |join_as| join_command("kubeadm", "https://10.0.0.5:6443", "abcdef.0123456789abcdef", &hashes, None, join_as);
    let worker = join(JoinAs::Worker);
    assert_eq!(worker, "kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash sha256:abc ");
    let control_plane = join(JoinAs::ControlPlane(Some("k3y")));
    assert_eq!(control_plane, format!("{worker}\\\n\t--control-plane --certificate-key k3y"));
    let no_upload = join(JoinAs::ControlPlane(None));
    assert_eq!(no_upload, format!("{worker}\\\n\t--control-plane "));
    let ours = join_command("airadm", "https://10.0.0.5:6443", "abcdef.0123456789abcdef", &hashes, Some("k.tar.zst"), JoinAs::Worker);
    assert_eq!(
        ours,
        "airadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef \\\n\t--discovery-token-ca-cert-hash sha256:abc --bundle k.tar.zst "
    );
}
