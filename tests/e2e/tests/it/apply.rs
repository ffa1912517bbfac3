//! airadm's own layer applier against containerd's `Diff.Apply`: the same bundle imported once by
//! each into its own containerd (overlayfs and native snapshotters) must give the same trees, for
//! layers holding every kind of entry; and a layer that is not its diffID is refused.

use std::collections::BTreeMap;
use std::path::Path;

use testkit::image::{Layer, TestImage};
use testkit::oci_tree::{Entry, Node, layer, listing, net_bind_service_capability};
use testkit::{Containerd, run_ok};

use crate::{World, bundle_file};

const PAUSE: &str = "registry.k8s.io/pause:3.10";

fn file(path: &str, data: &str, mode: u32) -> Entry {
    Node::File { path: path.into(), data: data.as_bytes().to_vec(), mode }.into()
}

fn dir(path: &str, mode: u32) -> Entry {
    Node::Dir { path: path.into(), mode }.into()
}

fn node(node: Node) -> Entry {
    node.into()
}

/// Three layers: a base with every entry type, then whiteouts (of a file and of a directory), an
/// opaque directory with entries of its own layer on both sides of the marker, replacements of
/// each kind by another, then re-creation, mode changes and the whiteout of a hard link's source.
/// (No hard link to a lower layer's file: containerd 1.6's overlayfs applier fails on one, with
/// "link …/fs/usr/bin/tool …: no such file or directory"; airadm's, through the mount, does not.)
fn tricky_layers() -> Vec<Layer> {
    let base = layer(&[
        dir("etc", 0o755),
        file("etc/gone", "bye\n", 0o644),
        file("etc/keep", "keep\n", 0o644),
        dir("opt", 0o755),
        dir("opt/old", 0o755),
        file("opt/old/a", "a\n", 0o644),
        dir("opt/old/sub", 0o750),
        file("opt/old/sub/b", "b\n", 0o644),
        dir("var", 0o755),
        dir("var/cache", 0o755),
        file("var/cache/lower", "lower\n", 0o644),
        dir("var/cache/lowerdir", 0o755),
        file("var/cache/lowerdir/x", "x\n", 0o644),
        dir("usr", 0o755),
        dir("usr/bin", 0o755),
        file("usr/bin/tool", "#!/bin/sh\necho tool\n", 0o755),
        node(Node::HardLink { path: "usr/bin/tool2".into(), target: "usr/bin/tool".into() }),
        node(Node::Symlink { path: "usr/bin/sh".into(), target: "tool".into() }),
        file("usr/bin/su", "setuid\n", 0o4755),
        file("usr/bin/ping", "ping\n", 0o755).xattr("security.capability", &net_bind_service_capability()),
        file("usr/bin/epoch", "mtime zero\n", 0o644).mtime(0),
        dir("home", 0o755),
        dir("home/user", 0o700).owner(1000, 1000),
        file("home/user/secret", "s\n", 0o600).owner(1000, 1000).mtime(12_345),
        dir("run", 0o755),
        node(Node::Fifo { path: "run/fifo".into() }),
        dir("dev", 0o755),
        node(Node::CharDevice { path: "dev/null".into(), major: 1, minor: 3 }),
        file("becomes-dir", "file\n", 0o644),
        dir("becomes-file", 0o755),
        file("becomes-file/child", "child\n", 0o644),
        node(Node::Symlink { path: "lib".into(), target: "usr/lib".into() }),
        dir("usr/lib", 0o755),
        file("usr/lib/libx.so", "elf\n", 0o644),
    ]);
    let middle = layer(&[
        node(Node::Whiteout { path: "etc/gone".into() }),
        node(Node::Whiteout { path: "opt/old".into() }),
        file("etc/keep", "changed\n", 0o640).owner(33, 33).xattr("user.airadm", b"yes"),
        dir("var/cache", 0o700),
        file("var/cache/before-marker", "same layer, before\n", 0o644),
        node(Node::Opaque { dir: "var/cache".into() }),
        file("var/cache/after-marker", "same layer, after\n", 0o644),
        dir("becomes-dir", 0o755),
        file("becomes-dir/inner", "inner\n", 0o644),
        file("becomes-file", "now a file\n", 0o644),
        file("usr/bin/sh", "no longer a link\n", 0o755),
    ]);
    let top = layer(&[
        file("etc/gone", "back\n", 0o644),
        dir("opt", 0o711),
        node(Node::Whiteout { path: "usr/bin/tool".into() }),
        dir("var/cache/lowerdir", 0o755),
    ]);
    vec![base, middle, top]
}

/// `AIRADM_APPLIER=…` `airadm images import` of `bundle` into `ctd`.
fn import(bundle: &Path, key: &Path, ctd: &Containerd, applier: &str) -> std::process::Output {
    testkit::run(crate::import_into(bundle, key, ctd, &["--quiet"]).env("AIRADM_APPLIER", applier))
}

/// The tree of every image (tag names), read through a read-only mount of its top snapshot.
fn trees(ctd: &Containerd, snapshotter: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let names = ctd.ctr_ok(&["images", "ls", "-q"]);
    let mut out = BTreeMap::new();
    for name in names.lines().filter(|n| !n.contains('@')) {
        let target = tempfile::tempdir().unwrap();
        let path = target.path().to_str().unwrap();
        ctd.ctr_ok(&["images", "mount", "--snapshotter", snapshotter, name, path]);
        let tree = listing(target.path());
        ctd.ctr_ok(&["images", "unmount", "--rm", path]);
        out.insert(name.to_owned(), tree);
    }
    out
}

#[test]
fn airadm_and_containerd_appliers_give_the_same_trees() {
    let w = World::new(5_000);
    let tricky = TestImage {
        repository: "kube-proxy".into(),
        tag: "v1.31.2".into(),
        platforms: vec![("amd64".into(), tricky_layers())],
        docker_format: false,
    };
    tricky.push(w.registry.addr());
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");

    for snapshotter in ["overlayfs", "native"] {
        let theirs = Containerd::start_with(PAUSE, snapshotter);
        let ours = Containerd::start_with(PAUSE, snapshotter);
        for (ctd, applier) in [(&theirs, "containerd"), (&ours, "airadm")] {
            let out = import(&bundle, &public, ctd, applier);
            assert!(out.status.success(), "{applier} on {snapshotter}: {}", String::from_utf8_lossy(&out.stderr));
        }
        let (expected, actual) = (trees(&theirs, snapshotter), trees(&ours, snapshotter));
        assert_eq!(expected.len(), 7, "{snapshotter}: {:?}", expected.keys());
        for (image, tree) in &expected {
            let mine = &actual[image];
            for path in tree.keys().chain(mine.keys()) {
                assert_eq!(mine.get(path), tree.get(path), "{snapshotter}, {image}, `{path}`: airadm vs containerd");
            }
        }
        // The tricky image did exercise what it is meant to.
        let proxy = &actual["registry.k8s.io/kube-proxy:v1.31.2"];
        assert!(!proxy.contains_key("opt/old") && !proxy.contains_key("var/cache/lower"), "{snapshotter}: {proxy:#?}");
        assert!(proxy.contains_key("var/cache/before-marker") && proxy.contains_key("var/cache/after-marker"), "{proxy:#?}");
        assert!(proxy["etc/gone"].contains("size=5") && proxy["usr/bin/su"].contains("mode=4755"), "{proxy:#?}");
        assert!(proxy["usr/bin/ping"].contains("xattr:security.capability="), "{proxy:#?}");
        assert!(proxy.contains_key("usr/bin/tool2") && !proxy.contains_key("usr/bin/tool"), "{proxy:#?}");
        assert!(proxy["dev/null"].starts_with("char 1:3") && proxy["home/user/secret"].contains("owner=1000:1000"), "{proxy:#?}");
    }
}

#[test]
fn a_layer_that_is_not_its_diff_id_is_refused_by_either_applier() {
    let w = World::new(1_000);
    let mut layers = tricky_layers();
    layers[1].diff_id = testkit::image::sha256(b"not this layer");
    let lying =
        TestImage { repository: "etcd".into(), tag: "3.5.15-0".into(), platforms: vec![("amd64".into(), layers)], docker_format: false };
    lying.push(w.registry.addr());
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    for applier in ["airadm", "containerd"] {
        let ctd = Containerd::start(PAUSE);
        let out = import(&bundle, &public, &ctd, applier);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("uncompresses to") && err.contains("sha256:"), "{applier}: {err}");
        assert!(ctd.ctr_ok(&["images", "ls", "-q"]).trim().is_empty(), "{applier}: an image was named");
        assert!(ctd.ctr_ok(&["leases", "ls", "-q"]).trim().is_empty(), "{applier}: lease left behind");
    }
}
