//! `manifests/skeletons/v1.MINOR.json` (the zero values kubeadm's Go types marshal, which
//! airadm lays its documents over) is what kubeadm's own types of each reference release print.
#![allow(clippy::unwrap_used, missing_docs)]

use testkit::reference::{RELEASES, skeleton};

#[test]
fn each_skeleton_is_what_kubeadms_go_types_marshal() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/skeletons");
    for release in RELEASES {
        let minor = release.rsplit_once('.').unwrap().0;
        let committed: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(dir.join(format!("{minor}.json"))).unwrap()).unwrap();
        assert_eq!(committed, skeleton(release), "{minor}.json: regenerate with tests/reference/build.sh {release} skeleton");
    }
}
