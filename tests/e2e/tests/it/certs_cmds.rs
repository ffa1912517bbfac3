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

/// What a renewal must keep of a certificate, and its validity's length (seconds).
pub(crate) fn describe(pem: &[u8]) -> (String, i64, i64) {
    use installer::kubeadm::certs::pki;
    let der = pki::first_certificate(pem).unwrap();
    let cert = pki::parse(&der).unwrap();
    let ext = |oid: &str| cert.extensions().iter().find(|e| e.oid.to_id_string() == oid).map(|e| format!("{:?}", e.parsed_extension()));
    let fields = format!(
        "subject: {}\nissuer: {}\nsans: {:?}\nkey usage: {:?}\nextended: {:?}\nbasic: {:?}\nkey: {}",
        cert.subject(),
        cert.issuer(),
        ext("2.5.29.17"),
        ext("2.5.29.15"),
        ext("2.5.29.37"),
        ext("2.5.29.19"),
        cert.public_key().algorithm.algorithm.to_id_string()
    );
    let (from, to) = (cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp());
    (fields, to - from, from)
}

/// One renewed file: its name, [`describe`] of its certificate, its key, and (kubeconfigs) the
/// rest of the file.
type Renewed = (String, (String, i64, i64), Vec<u8>, String);

/// The renewed files of a node tree: certificates by name (with the key's PEM), kubeconfigs with
/// their client certificate taken out.
fn renewed(root: &std::path::Path) -> Vec<Renewed> {
    let mut out = Vec::new();
    for name in [
        "apiserver",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "apiserver-etcd-client",
        "etcd/server",
        "etcd/peer",
        "etcd/healthcheck-client",
    ] {
        let dir = root.join("etc/kubernetes/pki");
        let crt = fs_err::read(dir.join(format!("{name}.crt"))).unwrap();
        let key = fs_err::read(dir.join(format!("{name}.key"))).unwrap();
        out.push((name.to_owned(), describe(&crt), key, String::new()));
    }
    for name in ["admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"] {
        let text = fs_err::read_to_string(root.join("etc/kubernetes").join(name)).unwrap();
        let field = |key: &str| text.lines().find_map(|l| l.trim().strip_prefix(key)).unwrap().trim().to_owned();
        let (cert, key) = (field("client-certificate-data:"), field("client-key-data:"));
        let pem = installer::kubeadm::certs::pki::base64_decode(&cert).unwrap();
        let rest = text.replace(&cert, "CERT").replace(&key, "KEY");
        out.push((name.to_owned(), describe(&pem), key.into_bytes(), rest));
    }
    out
}

fn modes(root: &std::path::Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut out: Vec<(String, u32)> = testkit::walk(&root.join("etc/kubernetes"))
        .into_iter()
        .filter(|p| !p.is_dir())
        .map(|p| (p.strip_prefix(root).unwrap().display().to_string(), fs_err::metadata(&p).unwrap().permissions().mode() & 0o777))
        .collect();
    out.sort();
    out
}

#[test]
fn renew_all_signs_what_real_kubeadm_signs_with_a_new_validity() {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let ours = w.path("ours");
    fs_err::create_dir_all(&ours).unwrap();
    let config = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.10\nnodeRegistration:\n  name: cp-0\n  criSocket: unix:///run/containerd/containerd.sock\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {VERSION}\ncertificateValidityPeriod: 2000h0m0s\napiServer:\n  certSANs: [api.example.com, 10.9.9.9]\n"
    );
    fs_err::write(ours.join("kubeadm.yaml"), &config).unwrap();
    run_ok(
        airadm()
            .args(["init", "--skip-phases=import,binaries,preflight,etcd,control-plane,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command"])
            .arg("--bundle")
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--rootfs")
            .arg(&ours)
            .arg("--config")
            .arg(ours.join("kubeadm.yaml")),
    );
    let theirs = w.path("theirs");
    fs_err::create_dir_all(&theirs).unwrap();
    testkit::reference::copy_tree(&ours, &theirs);
    let before = renewed(&ours);
    let cas = |root: &std::path::Path| {
        ["ca", "front-proxy-ca", "etcd/ca"].map(|ca| fs_err::read(root.join(format!("etc/kubernetes/pki/{ca}.crt"))).unwrap())
    };
    let cas_before = cas(&ours);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let out = run_ok(airadm().args(["certs", "renew", "all", "--rootfs"]).arg(&ours).arg("--config").arg(ours.join("kubeadm.yaml")));
    let kubeadm_out = run_ok(Command::new(&kubeadm).args(["certs", "renew", "all", "--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs));
    assert_eq!(out, kubeadm_out, "airadm (left), kubeadm (right)");
    let (after, after_kubeadm) = (renewed(&ours), renewed(&theirs));
    for ((name, ours, key, rest), (_, theirs, their_key, their_rest)) in after.iter().zip(&after_kubeadm) {
        assert_eq!(ours.0, theirs.0, "{name}: fields, airadm (left), kubeadm (right)");
        assert_eq!(ours.1, theirs.1, "{name}: validity length");
        assert_eq!(ours.1, 2000 * 3600 + 300, "{name}: certificateValidityPeriod plus the 5 minute backdate");
        assert!((ours.2 - theirs.2).abs() < 120, "{name}: NotBefore {} vs {}", ours.2, theirs.2);
        assert_eq!(rest, their_rest, "{name}: the kubeconfig besides its client certificate");
        let old = before.iter().find(|b| &b.0 == name).unwrap();
        assert_eq!(old.1.0, ours.0, "{name}: the renewal changed what it must keep");
        assert!(ours.2 > old.1.2, "{name}: NotBefore did not move");
        assert_ne!(&old.2, key, "{name}: the key was not replaced");
        assert_ne!(key, their_key);
    }
    assert_eq!(cas(&ours), cas_before, "a CA changed");
    assert_eq!(modes(&ours), modes(&theirs), "file modes");
    assert!(out.contains("certificate for serving the Kubernetes API renewed") && out.contains("Done renewing certificates."), "{out}");

    // One by name; an external CA is left alone, as kubeadm says.
    let one = run_ok(airadm().args(["certs", "renew", "admin.conf", "--rootfs"]).arg(&ours).arg("--config").arg(ours.join("kubeadm.yaml")));
    assert_eq!(one.trim(), "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed");
    for root in [&ours, &theirs] {
        fs_err::remove_file(root.join("etc/kubernetes/pki/front-proxy-ca.key")).unwrap();
    }
    let ours_ext = run_ok(
        airadm().args(["certs", "renew", "front-proxy-client", "--rootfs"]).arg(&ours).arg("--config").arg(ours.join("kubeadm.yaml")),
    );
    let theirs_ext =
        run_ok(Command::new(&kubeadm).args(["certs", "renew", "front-proxy-client", "--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs));
    assert_eq!(ours_ext, theirs_ext);
    assert!(ours_ext.contains("Detected external front-proxy-ca"), "{ours_ext}");
    let err = testkit::run_fails(
        airadm().args(["certs", "renew", "kubelet.conf", "--rootfs"]).arg(&ours).arg("--config").arg(ours.join("kubeadm.yaml")),
    );
    assert!(err.contains("`kubelet.conf` is not a certificate kubeadm renews: use all, admin.conf"), "{err}");
}

#[test]
fn certificate_key_is_kubeadms_32_random_bytes_in_hex() {
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let ours = [run_ok(airadm().args(["certs", "certificate-key"])), run_ok(airadm().args(["certs", "certificate-key"]))];
    let theirs = run_ok(Command::new(&kubeadm).args(["certs", "certificate-key"]));
    for key in ours.iter().chain([&theirs]) {
        assert!(
            key.ends_with('\n') && key.trim().len() == 64 && key.trim().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{key:?}"
        );
    }
    assert_ne!(ours[0], ours[1], "not random");
}
