//! Registries that fail or lie, and a corrupted cache: clear errors, retries, nothing written.

use testkit::{Fault, FaultProxy, run_fails, run_ok};

use crate::Setup;

fn files_in(dir: &std::path::Path) -> Vec<String> {
    fs_err::read_dir(dir).map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn server_errors_and_resets_are_retried() {
    let s = Setup::new();
    let proxy = FaultProxy::start(
        s.registry.addr(),
        vec![
            Fault::Status { pattern: "/blobs/".into(), status: 500, times: 3 },
            Fault::Status { pattern: "/manifests/".into(), status: 503, times: 2 },
            Fault::Reset { pattern: "/blobs/".into(), times: 2 },
        ],
    );
    let out = s.path("out");
    run_ok(s.build(proxy.addr(), &out, &s.path("cache"), &["--arch", "amd64"]));
    assert!(out.join("kubernetes-v1.31.2-linux-amd64.tar.zst").is_file());
    assert_eq!(proxy.count("/blobs/"), 7 * 2 + 1 + 5, "3 failed + 2 reset blob requests retried");
}

#[test]
fn blob_with_wrong_content_is_refused_and_nothing_is_written() {
    let s = Setup::new();
    let layer = s.pushed[2].blobs["amd64"][2].clone(); // kube-scheduler's own layer
    let data = s.registry.blob_data_path(&layer[7..]);
    let mut bytes = fs_err::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&data, bytes).unwrap();
    let out = s.path("out");
    let err = run_fails(s.build(s.registry.addr(), &out, &s.path("cache"), &["--arch", "amd64"]));
    assert!(err.contains("corrupt content") && err.contains(&layer) && err.contains("kube-scheduler"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(files_in(&out), Vec::<String>::new(), "a failed build left files");
    assert!(!s.path("cache/blobs/sha256").join(&layer[7..]).exists(), "corrupt blob entered the cache");
}

#[test]
fn missing_tag_names_the_image() {
    let s = Setup::with_images(&testkit::image::CATALOG_V1_31_2[..6]); // no etcd
    let err = run_fails(s.build(s.registry.addr(), &s.path("out"), &s.path("cache"), &["--arch", "amd64"]));
    assert!(err.contains("etcd:3.5.15-0") && err.contains("not found"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn corrupted_cache_blob_is_evicted_and_the_next_build_succeeds() {
    let s = Setup::new();
    let cache = s.path("cache");
    run_ok(s.build(s.registry.addr(), &s.path("one"), &cache, &["--arch", "amd64"]));
    let layer = &s.pushed[0].blobs["amd64"][2];
    let cached = cache.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = fs_err::read(&cached).unwrap();
    bytes[10] ^= 1;
    fs_err::write(&cached, bytes).unwrap();
    let err = run_fails(s.build(s.registry.addr(), &s.path("two"), &cache, &["--arch", "amd64"]));
    assert!(err.contains(&layer[..]) && err.contains("run the build again"), "{err}");
    assert_eq!(files_in(&s.path("two")), Vec::<String>::new());
    run_ok(s.build(s.registry.addr(), &s.path("two"), &cache, &["--arch", "amd64"]));
    assert_eq!(
        fs_err::read(s.path("one/kubernetes-v1.31.2-linux-amd64.tar.zst")).unwrap(),
        fs_err::read(s.path("two/kubernetes-v1.31.2-linux-amd64.tar.zst")).unwrap()
    );
}

#[test]
fn wrong_arch_and_bad_flags_are_one_line_errors() {
    let s = Setup::new();
    let err = run_fails(s.build(s.registry.addr(), &s.path("out"), &s.path("cache"), &["--arch", "s390x"]));
    assert!(err.contains("no linux/s390x variant") && err.contains("linux/amd64"), "{err}");
    let err = run_fails(s.build(s.registry.addr(), &s.path("out"), &s.path("cache"), &["--arch", "mips"]));
    assert!(err.contains("--arch `mips`"), "{err}");
    let err = run_fails(s.build_with_key(&s.public, s.registry.addr(), &s.path("out"), &s.path("cache"), &["--arch", "amd64"]));
    assert!(err.contains("test.pub") && err.contains("not a minisign secret key"), "{err}");
    assert_eq!(files_in(&s.path("out")), Vec::<String>::new());
}
