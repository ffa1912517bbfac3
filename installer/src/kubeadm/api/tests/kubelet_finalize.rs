//! `kubelet-finalize`: kubelet.conf pointed at the rotatable client certificate.

use super::*;
use crate::kubeadm::certs::tests::config_with;
use crate::kubeadm::config::InitFlags;

#[test]
fn enable_client_cert_rotation_points_kubelet_conf_at_the_rotated_pem() {
    let cfg = config_with(InitFlags::default(), None);
    let dir = tempfile::tempdir().unwrap();
    let root = crate::kubeadm::files::Root::new(dir.path());
    let kubelet_conf = ADMIN_CONF.replace("kubernetes-admin", "system:node:node-1");
    root.write(KUBELET_CONF, kubelet_conf.as_bytes(), 0o600).unwrap();
    assert_eq!(enable_client_cert_rotation(&cfg, &root).unwrap(), Vec::<String>::new(), "no pem yet: nothing to do");
    root.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"PEM", 0o600).unwrap();
    assert_eq!(
        enable_client_cert_rotation(&cfg, &root).unwrap(),
        ["[kubelet-finalize] Updating \"/etc/kubernetes/kubelet.conf\" to point to a rotatable kubelet client certificate and key"]
    );
    let written = String::from_utf8(root.read(KUBELET_CONF).unwrap().unwrap()).unwrap();
    let expected = kubelet_conf.replace(
        "    client-certificate-data: Q0VSVAo=\n    client-key-data: S0VZCg==\n",
        "    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
    );
    assert_eq!(written, expected);
    assert!(rotatable_kubeconfig("kind: Config\n", "/p").is_err(), "no current-context");
}
