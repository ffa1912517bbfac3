//! `airadm certs check-expiration` against real `kubeadm certs check-expiration` on the same
//! node tree (airadm init's certificates and kubeconfigs): the whole table, also with a missing
//! certificate and with the CA's key gone (externally managed).

use std::process::Command;

use testkit::run_ok;

use crate::{World, airadm};

const VERSION: &str = "v1.34.4";

#[test]
fn check_expiration_prints_kubeadms_table() {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let root = w.path("root");
    fs_err::create_dir_all(&root).unwrap();
    let config = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.10\nnodeRegistration:\n  name: cp-0\n  criSocket: unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {VERSION}\n"
    );
    fs_err::write(root.join("kubeadm.yaml"), &config).unwrap();
    let mut init = airadm();
    init.args(["init", "--skip-phases=import,binaries,preflight,etcd,control-plane,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command"]);
    init.arg("--bundle")
        .arg(&bundle)
        .arg("--trusted-key")
        .arg(&public)
        .arg("--rootfs")
        .arg(&root)
        .arg("--config")
        .arg(root.join("kubeadm.yaml"));
    run_ok(init);
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let compare = |case: &str| {
        let ours =
            run_ok(airadm().args(["certs", "check-expiration", "--rootfs"]).arg(&root).arg("--config").arg(root.join("kubeadm.yaml")));
        let theirs = run_ok(Command::new(&kubeadm).args(["certs", "check-expiration", "--config", "/kubeadm.yaml", "--rootfs"]).arg(&root));
        assert_eq!(ours, theirs, "{case}: airadm (left), kubeadm (right)");
        ours
    };
    let table = compare("airadm init's tree");
    assert!(table.contains("\napiserver ") && table.contains("\nca ") && table.contains(" 364d "), "{table}");
    let apiserver = root.join("etc/kubernetes/pki/apiserver.crt");
    let kept = fs_err::read(&apiserver).unwrap();
    fs_err::remove_file(&apiserver).unwrap();
    assert!(compare("a missing certificate").contains("!MISSING! apiserver"));
    // Without ca.key (an external CA) both refuse a missing API server certificate, and show
    // every certificate as externally managed once it is back.
    fs_err::remove_file(root.join("etc/kubernetes/pki/ca.key")).unwrap();
    let err = testkit::run_fails(
        airadm().args(["certs", "check-expiration", "--rootfs"]).arg(&root).arg("--config").arg(root.join("kubeadm.yaml")),
    );
    assert!(err.contains("apiserver.crt"), "{err}");
    let out =
        Command::new(&kubeadm).args(["certs", "check-expiration", "--config", "/kubeadm.yaml", "--rootfs"]).arg(&root).output().unwrap();
    assert!(!out.status.success(), "kubeadm too");
    fs_err::write(&apiserver, kept).unwrap();
    assert!(compare("an external CA").contains(" yes "));
}
