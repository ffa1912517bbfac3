//! The catalog against real kubeadm: `airbundle list-images` must print exactly what
//! `kubeadm config images list` of the same release prints, for every reference release
//! (tests/reference/build.sh builds kubeadm from the Go module proxy, cached per machine).

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
