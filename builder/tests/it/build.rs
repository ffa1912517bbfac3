//! Happy paths: platform digests, shared layers once, cache hits, byte-identical rebuilds.

use std::collections::BTreeSet;

use testkit::{FaultProxy, run_ok};

use crate::{Setup, airbundle, manifest_of};

#[test]
fn writes_one_bundle_per_arch_with_each_platforms_digests() {
    let s = Setup::new();
    let out = s.path("out");
    run_ok(s.build(s.registry.addr(), &out, &s.path("cache"), &["--arch", "amd64", "--arch", "arm64"]));
    for arch in ["amd64", "arm64"] {
        let bundle = out.join(format!("kubernetes-v1.31.2-linux-{arch}.tar.zst"));
        assert!(out.join(format!("kubernetes-v1.31.2-linux-{arch}.tar.zst.minisig")).is_file());
        let m = manifest_of(&bundle);
        assert_eq!((m.kubernetes_version.as_str(), m.arch.as_str(), m.os.as_str()), ("v1.31.2", arch, "linux"));
        let names: Vec<&str> = m.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "registry.k8s.io/kube-apiserver:v1.31.2",
                "registry.k8s.io/kube-controller-manager:v1.31.2",
                "registry.k8s.io/kube-scheduler:v1.31.2",
                "registry.k8s.io/kube-proxy:v1.31.2",
                "registry.k8s.io/coredns/coredns:v1.11.3",
                "registry.k8s.io/pause:3.10",
                "registry.k8s.io/etcd:3.5.15-0",
            ]
        );
        for (image, pushed) in m.images.iter().zip(&s.pushed) {
            assert_eq!(image.digest.to_string(), pushed.manifests[arch], "{}", image.name);
            assert_eq!(image.index_digest.map(|d| d.to_string()), Some(pushed.index_digest.clone()));
            assert_eq!(image.platform.architecture, arch);
            let mut blobs = vec![image.config.to_string()];
            blobs.extend(image.layers.iter().map(ToString::to_string));
            assert_eq!(blobs, pushed.blobs[arch]);
        }
        // Shared base layer: 7 images x (manifest + config + 2 layers), the base layer once.
        let blob_entries = m.entries.iter().filter(|e| e.path.as_str().starts_with("oci/blobs/")).count();
        let unique: BTreeSet<_> = s.pushed.iter().flat_map(|p| p.blobs[arch].iter().chain([&p.manifests[arch]])).collect();
        // pause is pushed in Docker format and gets a one-entry OCI index wrapper of its own.
        let wrappers = m.images.iter().filter(|i| i.oci_index.is_some()).count();
        assert_eq!(wrappers, 1);
        assert_eq!(blob_entries, unique.len() + wrappers);
        assert_eq!(unique.len(), 7 * 3 + 1);
        let listing = testkit::tar_listing(&bundle);
        let base = &s.pushed[0].blobs[arch][1];
        assert_eq!(listing.iter().filter(|p| p.ends_with(&base[7..])).count(), 1, "base layer stored once");
    }
}

#[test]
fn second_build_pulls_nothing_and_is_byte_identical() {
    let s = Setup::new();
    let proxy = FaultProxy::start(s.registry.addr(), vec![]);
    let cache = s.path("cache");
    run_ok(s.build(proxy.addr(), &s.path("one"), &cache, &["--arch", "arm64", "--jobs", "8"]));
    let first_pulls = proxy.count("/blobs/");
    assert_eq!(first_pulls, 7 * 2 + 1, "each config and layer pulled once");
    run_ok(s.build(proxy.addr(), &s.path("two"), &cache, &["--arch", "arm64", "--jobs", "1", "--zstd-workers", "1"]));
    assert_eq!(proxy.count("/blobs/"), first_pulls, "the second build pulled blobs again");
    // A third build with a cold cache and other parallelism gives the same bytes too.
    run_ok(s.build(proxy.addr(), &s.path("three"), &s.path("cache3"), &["--arch", "arm64", "--jobs", "3", "--zstd-workers", "2"]));
    for file in ["kubernetes-v1.31.2-linux-arm64.tar.zst", "kubernetes-v1.31.2-linux-arm64.tar.zst.minisig"] {
        let one = fs_err::read(s.path("one").join(file)).unwrap();
        assert_eq!(one, fs_err::read(s.path("two").join(file)).unwrap(), "{file} differs (warm cache)");
        assert_eq!(one, fs_err::read(s.path("three").join(file)).unwrap(), "{file} differs (cold cache)");
    }
}

#[test]
fn source_date_epoch_sets_creation_time_and_mtimes() {
    let s = Setup::new();
    let out = s.path("out");
    run_ok(s.build(s.registry.addr(), &out, &s.path("cache"), &["--arch", "amd64"]).env("SOURCE_DATE_EPOCH", "1700000000"));
    let bundle = out.join("kubernetes-v1.31.2-linux-amd64.tar.zst");
    assert_eq!(manifest_of(&bundle).created, "2023-11-14T22:13:20Z");
    // Every entry: the manifest, its signature and each entry the manifest lists.
    let verbose = run_ok(
        std::process::Command::new("sh").arg("-c").arg(format!("zstd -dc '{}' | tar -tv --numeric-owner --full-time", bundle.display())),
    );
    assert_eq!(verbose.lines().count(), manifest_of(&bundle).entries.len() + 2, "{verbose}");
    for line in verbose.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[..2], ["-rw-r--r--", "0/0"], "{line}");
        assert_eq!(fields[3..5], ["2023-11-14", "22:13:20"], "{line}");
    }
}

#[test]
fn list_images_prints_kubeadms_list() {
    let out = run_ok(airbundle().args(["list-images", "--kubernetes-version", "v1.31.2"]));
    assert_eq!(
        out,
        "registry.k8s.io/kube-apiserver:v1.31.2\nregistry.k8s.io/kube-controller-manager:v1.31.2\nregistry.k8s.io/kube-scheduler:v1.31.2\nregistry.k8s.io/kube-proxy:v1.31.2\nregistry.k8s.io/coredns/coredns:v1.11.3\nregistry.k8s.io/pause:3.10\nregistry.k8s.io/etcd:3.5.15-0\n"
    );
    let err = testkit::run_fails(airbundle().args(["list-images", "--kubernetes-version", "v1.29.0"]));
    assert!(err.starts_with("error: ") && err.contains("v1.31.x") && err.lines().count() == 1, "{err}");
}

#[test]
fn extra_images_and_overrides_are_carried() {
    let s = Setup::with_images(&[
        ("kube-apiserver", "v1.31.2"),
        ("kube-controller-manager", "v1.31.2"),
        ("kube-scheduler", "v1.31.2"),
        ("kube-proxy", "v1.31.2"),
        ("coredns/coredns", "v1.11.4"),
        ("pause", "3.10"),
        ("etcd", "3.5.16-0"),
        ("calico/node", "v3.28.0"),
    ]);
    let out = s.path("out");
    run_ok(s.build(
        s.registry.addr(),
        &out,
        &s.path("cache"),
        &[
            "--arch",
            "amd64",
            "--etcd-version",
            "3.5.16-0",
            "--coredns-version",
            "v1.11.4",
            "--extra-image",
            "docker.io/calico/node:v3.28.0",
        ],
    ));
    let m = manifest_of(&out.join("kubernetes-v1.31.2-linux-amd64.tar.zst"));
    let names: Vec<&str> = m.images.iter().map(|i| i.name.as_str()).collect();
    assert!(names.contains(&"registry.k8s.io/etcd:3.5.16-0") && names.contains(&"registry.k8s.io/coredns/coredns:v1.11.4"), "{names:?}");
    assert_eq!(m.images.last().map(|i| (i.name.as_str(), i.component.as_str())), Some(("docker.io/calico/node:v3.28.0", "extra")));
}

#[test]
fn progress_is_plain_lines_when_stderr_is_not_a_terminal() {
    let s = Setup::new();
    let cmd = s.build(s.registry.addr(), &s.path("out"), &s.path("cache"), &["--arch", "amd64"]);
    let args: Vec<_> = cmd.get_args().filter(|a| *a != "--quiet").map(ToOwned::to_owned).collect();
    let out = testkit::run(std::process::Command::new(cmd.get_program()).args(&args).env("HOME", s.dir.path()));
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "resolving 7 images for linux/amd64",
        "pulling 15 blobs",
        "pulled kube-apiserver",
        "packing kubernetes-v1.31.2-linux-amd64.tar.zst",
        "wrote kubernetes-v1.31.2-linux-amd64.tar.zst",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    assert!(!err.contains('\u{1b}'), "terminal escapes in plain output:\n{err}");
    let quiet = testkit::run(s.build(s.registry.addr(), &s.path("out2"), &s.path("cache"), &["--arch", "amd64"]));
    assert!(quiet.status.success() && quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
}
