//! Kubernetes' own images (made from the reference binaries by `testkit::kubeimages`) go through
//! the whole path a user's do: pulled from a registry by `airbundle build`, signed, verified and
//! imported by `airadm images import`, and then they run, offline, under containerd and runc.

use testkit::{Containerd, run_ok};

use crate::{World, import_into};

const VERSION: &str = "v1.34.4";

#[test]
fn kubernetes_own_images_bundle_import_and_run_offline() {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let verified = run_ok(crate::airadm().args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    assert!(verified.contains(&format!("Kubernetes {VERSION} linux/amd64, {} images", w.pushed.len())), "{verified}");
    let World { registry, dir: _dir, pushed, .. } = w;
    drop(registry); // offline from here on
    let ctd = Containerd::start_with(&format!("registry.k8s.io/pause:{}", tag(&pushed, "pause")), "native");
    run_ok(import_into(&bundle, &public, &ctd, &[]));
    let images = ctd.ctr_ok(&["images", "ls", "-q"]);
    for p in &pushed {
        let name = format!("registry.k8s.io/{}:{}", p.repository, p.tag);
        assert!(images.lines().any(|l| l == name), "{name} imported: {images}");
    }
    let dir = ctd.dir().display().to_string();
    let runs = std::cell::Cell::new(0);
    let run = |image: &str, args: &[&str]| -> String {
        runs.set(runs.get() + 1);
        let id = format!("airadm-real-{}-{}", std::process::id(), runs.get());
        let image = format!("registry.k8s.io/{image}:{}", tag(&pushed, image));
        let mut all = vec!["run", "--rm", "--snapshotter", "native", "--net-host"];
        let (fifo, runc) = (format!("{dir}/fifo"), format!("{dir}/runc"));
        all.extend(["--fifo-dir", &fifo, "--runc-root", &runc, &image, &id]);
        all.extend(args);
        ctd.ctr_ok(&all)
    };
    for component in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"] {
        let out = run(component, &[&format!("/usr/local/bin/{component}"), "--version"]);
        assert_eq!(out.trim(), format!("Kubernetes {VERSION}"), "{component}");
    }
    // The etcd image's own etcd and etcdctl, at the version kubeadm names.
    let etcd = tag(&pushed, "etcd");
    let want = etcd.trim_end_matches("-0");
    assert!(run("etcd", &["etcd", "--version"]).contains(&format!("etcd Version: {want}")), "etcd {want}");
    assert!(run("etcd", &["etcdctl", "version"]).contains(&format!("etcdctl version: {want}")), "etcdctl {want}");
    let coredns = run("coredns/coredns", &["/coredns", "-version"]);
    assert!(coredns.contains(&format!("CoreDNS-{}", tag(&pushed, "coredns/coredns").trim_start_matches('v'))), "{coredns}");
    // kube-proxy calls iptables by name: both back ends run inside the image, on its libraries.
    for (program, backend) in [("iptables", "nf_tables"), ("ip6tables-save", "nf_tables"), ("iptables-legacy", "legacy")] {
        let out = run("kube-proxy", &[program, "--version"]);
        assert!(out.contains(backend), "{program} --version in kube-proxy: {out}");
    }
    assert!(run("kube-proxy", &["nft", "--version"]).starts_with("nftables v"), "nft in kube-proxy");
    // pause runs as upstream's (user 65535) and stops on SIGTERM... `ctr run` of pause with
    // `-v` prints its version.
    assert!(run("pause", &["/pause", "-v"]).contains("pause.c"), "pause -v");
}

fn tag<'a>(pushed: &'a [testkit::image::PushedImage], repository: &str) -> &'a str {
    &pushed.iter().find(|p| p.repository == repository).unwrap_or_else(|| panic!("{repository} pushed")).tag
}
