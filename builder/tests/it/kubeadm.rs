//! The catalog against real kubeadm: `airbundle list-images` must print exactly what
//! `kubeadm config images list` of the same release prints, for every reference release
//! (tests/reference/build.sh builds kubeadm from the Go module proxy, cached per machine).

#![allow(clippy::print_stderr)]

use std::process::Command;

use testkit::run_ok;

#[test]
fn catalog_is_what_real_kubeadm_lists() {
    for release in testkit::reference::RELEASES {
        let kubeadm = testkit::reference::binary(release, "kubeadm");
        let theirs = run_ok(Command::new(&kubeadm).args(["config", "images", "list", "--kubernetes-version", release]));
        let ours = run_ok(crate::airbundle().args(["list-images", "--kubernetes-version", release]));
        assert_eq!(ours, theirs, "airbundle list-images vs kubeadm config images list, {release}");
        assert_eq!(ours.lines().count(), 7, "{release}: {ours}");
    }
}

/// Every release the module proxy serves from v1.31 on, built or not: the image list
/// `airbundle list-images` prints is the one kubeadm's constants of that very release give
/// (read from its source, downloaded from the proxy; the real-kubeadm test above shows that
/// `config images list` is these constants in this order).
#[test]
fn catalog_is_kubeadms_constants_for_every_served_release() {
    let served = testkit::module::served_releases(31);
    assert!(served.len() >= testkit::reference::RELEASES.len(), "the proxy lists only {served:?}");
    let mut failures = Vec::new();
    for release in &served {
        let c = testkit::module::image_constants(release);
        let r = &c.repository;
        let theirs = format!(
            "{r}/kube-apiserver:{release}\n{r}/kube-controller-manager:{release}\n{r}/kube-scheduler:{release}\n\
             {r}/kube-proxy:{release}\n{r}/coredns/coredns:{}\n{r}/pause:{}\n{r}/etcd:{}\n",
            c.coredns, c.pause, c.etcd
        );
        let out = crate::airbundle().args(["list-images", "--kubernetes-version", release]).output().unwrap();
        let ours = String::from_utf8_lossy(&out.stdout);
        if ours != theirs {
            failures.push(format!(
                "{release}: airbundle list-images\n{ours}{}kubeadm's constants\n{theirs}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    eprintln!("catalog checked against kubeadm's constants of {}", served.join(" "));
    assert!(failures.is_empty(), "the catalog (manifests/versions/) differs from kubeadm:\n{}", failures.join("\n"));
}

/// The CNI plugins release the catalog pairs with each minor is the one that release's own
/// `build/dependencies.yaml` (`name: "cni"`) names, read from the source of every reference
/// release as the module proxy serves it.
#[test]
fn catalog_cni_is_kubernetes_build_dependencies() {
    let catalog = builder::catalog::Catalog::embedded().unwrap();
    for release in testkit::reference::RELEASES {
        let path = testkit::module::source(release).join("build/dependencies.yaml");
        let text = fs_err::read_to_string(&path).unwrap();
        let theirs = dependency_version(&text, "cni").unwrap_or_else(|| panic!("{}: no cni dependency", path.display()));
        let version = builder::catalog::KubernetesVersion::parse(release).unwrap();
        let ours = catalog.binary_versions(&version).unwrap();
        assert_eq!(ours.cni, format!("v{theirs}"), "{release}: catalog cni vs {}", path.display());
    }
}

/// `version:` of the entry `- name: "NAME"` of a `build/dependencies.yaml`.
fn dependency_version(text: &str, name: &str) -> Option<String> {
    let entry = text.split("- name: ").find(|e| e.lines().next().is_some_and(|l| l.trim().trim_matches('"') == name))?;
    entry.lines().find_map(|l| l.trim().strip_prefix("version:")).map(|v| v.trim().trim_matches('"').to_owned())
}
