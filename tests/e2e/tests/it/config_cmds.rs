//! kubeadm's `config` commands against real kubeadm of the bundle's release: `config print
//! init-defaults` and `config images list --config` (airadm reads the version and the images
//! from the signed bundle, kubeadm from its own constants; the output must be the same).

use std::process::Command;

use testkit::run_ok;

use crate::{World, airadm};

const VERSION: &str = "v1.34.4";

#[test]
fn config_print_and_images_list_are_what_real_kubeadm_prints() {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let ours = |args: &[&str]| run_ok(airadm().args(args).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public));
    let theirs = |args: &[&str]| run_ok(Command::new(&kubeadm).args(args).env_clear());

    // One line differs by design: kubeadm prints a placeholder (`1.34.0`, its own minor), airadm
    // the bundle's version, so that `airadm init --config` of what it printed deploys the bundle
    // (airadm refuses a config naming another version than the bundle's).
    let defaults = theirs(&["config", "print", "init-defaults"]);
    assert!(defaults.contains("\nkubernetesVersion: 1.34.0\n"), "{defaults}");
    let defaults = defaults.replace("\nkubernetesVersion: 1.34.0\n", &format!("\nkubernetesVersion: {VERSION}\n"));
    assert_eq!(ours(&["config", "print", "init-defaults"]), defaults, "config print init-defaults");
    // join-defaults (which names this node, its hostname) and reset-defaults, for every reference release.
    for which in ["join-defaults", "reset-defaults"] {
        let ours = run_ok(airadm().args(["config", "print", which]));
        for release in testkit::reference::RELEASES {
            let kubeadm = testkit::reference::binary(release, "kubeadm");
            let theirs = run_ok(Command::new(&kubeadm).args(["config", "print", which]).env_clear());
            assert_eq!(ours, theirs, "config print {which}, kubeadm {release}");
        }
    }

    for (name, cluster) in [
        ("defaults", ""),
        ("external etcd", "etcd:\n  external:\n    endpoints: [https://10.0.0.5:2379]\n"),
        ("no CoreDNS, no kube-proxy", "dns:\n  disabled: true\nproxy:\n  disabled: true\n"),
    ] {
        let text = format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {VERSION}\n{cluster}");
        let config = w.path("config.yaml");
        fs_err::write(&config, text).unwrap();
        let path = config.to_str().unwrap();
        assert_eq!(
            ours(&["config", "images", "list", "--config", path]),
            theirs(&["config", "images", "list", "--config", path]),
            "{name}"
        );
    }
}
