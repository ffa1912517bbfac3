use std::os::unix::fs::PermissionsExt as _;

use super::{PRIVATE, Root};

#[test]
fn writes_under_the_root_with_the_mode_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    root.write("/etc/kubernetes/pki/ca.key", b"one", PRIVATE).unwrap();
    let path = dir.path().join("etc/kubernetes/pki/ca.key");
    assert_eq!(fs_err::read(&path).unwrap(), b"one");
    assert_eq!(fs_err::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    root.write("/etc/kubernetes/pki/ca.key", b"two", PRIVATE).unwrap();
    assert_eq!(root.read("/etc/kubernetes/pki/ca.key").unwrap().unwrap(), b"two");
    assert_eq!(fs_err::read_dir(path.parent().unwrap()).unwrap().count(), 1, "temp file left");
    assert_eq!(root.read("/nope").unwrap(), None);
    assert!(root.exists("/etc/kubernetes/pki") && !root.exists("/etc/kubernetes/nope"));
}

#[test]
fn paths_climbing_above_the_root_are_refused_naming_path_and_root() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("a/b");
    fs_err::create_dir_all(&inner).unwrap();
    let root = Root::new(&inner).named("--rootfs");
    let escape = "/../../escaped/ca.key";
    let expected = format!("`{escape}` leaves --rootfs `{}`: give an absolute path with no `..` above `/`", inner.display());
    for err in [
        root.write(escape, b"key", PRIVATE).unwrap_err(),
        root.create_dir("/../../escaped", 0o700).unwrap_err(),
        root.read(escape).unwrap_err(),
        root.path(escape).unwrap_err(),
        root.dir_has_entries("/../../escaped").unwrap_err(),
    ] {
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&format!("` leaves --rootfs `{}`", inner.display())), "{err}");
    }
    assert_eq!(root.write(escape, b"key", PRIVATE).unwrap_err().to_string(), expected);
    assert!(!outer.path().join("escaped").exists(), "written outside the root");
    assert!(!root.exists(escape));
    let err = root.check("certificatesDir", "/../../etc/kubernetes/pki").unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "certificatesDir `/../../etc/kubernetes/pki` leaves --rootfs `{}`: give an absolute path with no `..` above `/`",
            inner.display()
        )
    );
    // `..` that stays inside is cleaned as Go's filepath.Clean.
    root.check("certificatesDir", "/etc/kubernetes/../kubernetes/./pki").unwrap();
    root.write("/etc/kubernetes/../kubernetes/./pki/ca.crt", b"crt", 0o644).unwrap();
    assert_eq!(fs_err::read(inner.join("etc/kubernetes/pki/ca.crt")).unwrap(), b"crt");
}

#[test]
fn symlinks_in_the_root_resolve_inside_it_as_in_a_chroot() {
    let outer = tempfile::tempdir().unwrap();
    let host = outer.path().join("host");
    fs_err::create_dir_all(host.join("kubernetes")).unwrap();
    fs_err::write(host.join("secret"), "host file").unwrap();
    let dir = outer.path().join("rootfs");
    fs_err::create_dir_all(dir.join("etc")).unwrap();
    fs_err::create_dir_all(dir.join("data")).unwrap();
    let root = Root::new(&dir);

    // A directory symlink pointing at the host's tree (absolute, or with `..` past the root).
    std::os::unix::fs::symlink(host.join("kubernetes"), dir.join("etc/kubernetes")).unwrap();
    std::os::unix::fs::symlink("../../../host", dir.join("etc/up")).unwrap();
    assert!(root.write("/etc/kubernetes/pki/ca.key", b"key", PRIVATE).is_err(), "the host path does not exist inside the root");
    root.write("/etc/up/kubernetes/ca.key", b"key", PRIVATE).unwrap_err();
    assert_eq!(fs_err::read_dir(host.join("kubernetes")).unwrap().count(), 0, "written through a symlink out of the root");
    assert!(!root.exists("/etc/kubernetes"), "resolved outside the root");

    // A symlink to `/data` means the root's `/data`.
    std::os::unix::fs::symlink("/data", dir.join("etc/lib")).unwrap();
    root.write("/etc/lib/etcd/member", b"m", PRIVATE).unwrap();
    assert_eq!(fs_err::read(dir.join("data/etcd/member")).unwrap(), b"m");
    root.create_dir("/etc/lib/other", 0o700).unwrap();
    assert!(dir.join("data/other").is_dir());
    assert!(root.dir_has_entries("/etc/lib").unwrap() && !root.dir_has_entries("/etc/lib/other").unwrap());

    // Reading through a symlink to a host file: the root's file of that name, here none.
    std::os::unix::fs::symlink(host.join("secret"), dir.join("etc/secret")).unwrap();
    assert_eq!(root.read("/etc/secret").unwrap(), None);

    // A symlink at the final component is replaced, never written through.
    std::os::unix::fs::symlink(host.join("secret"), dir.join("etc/admin.conf")).unwrap();
    root.write("/etc/admin.conf", b"kubeconfig", PRIVATE).unwrap();
    assert_eq!(fs_err::read_to_string(host.join("secret")).unwrap(), "host file");
    assert!(fs_err::symlink_metadata(dir.join("etc/admin.conf")).unwrap().file_type().is_file());
    assert_eq!(fs_err::read(dir.join("etc/admin.conf")).unwrap(), b"kubeconfig");
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    root.write("/etc/kubernetes/admin.conf", b"old", PRIVATE).unwrap();
    // The target is now a non-empty directory: the rename fails.
    fs_err::remove_file(dir.path().join("etc/kubernetes/admin.conf")).unwrap();
    fs_err::create_dir_all(dir.path().join("etc/kubernetes/admin.conf/x")).unwrap();
    let err = root.write("/etc/kubernetes/admin.conf", b"new", PRIVATE).unwrap_err().to_string();
    assert!(err.contains(&dir.path().join("etc/kubernetes/admin.conf").display().to_string()), "{err}");
    assert_eq!(fs_err::read_dir(dir.path().join("etc/kubernetes")).unwrap().count(), 1, "temp file left");
}

#[test]
fn clean_dir_empties_the_directory_and_never_follows_a_link_out() {
    let outer = tempfile::tempdir().unwrap();
    let node = outer.path().join("node");
    let precious = outer.path().join("precious");
    fs_err::create_dir_all(node.join("var/lib/kubelet/pods/uid/volumes")).unwrap();
    fs_err::create_dir_all(&precious).unwrap();
    fs_err::write(precious.join("data"), b"keep").unwrap();
    fs_err::write(node.join("var/lib/kubelet/config.yaml"), b"x").unwrap();
    fs_err::write(node.join("var/lib/kubelet/pods/uid/volumes/v"), b"x").unwrap();
    std::os::unix::fs::symlink(&precious, node.join("var/lib/kubelet/link")).unwrap();
    std::os::unix::fs::symlink(&precious, node.join("var/lib/kubelet/pods/uid/link")).unwrap();
    let root = Root::new(&node);
    let removed = root.clean_dir("/var/lib/kubelet").unwrap();
    let names: Vec<String> = removed.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(names, ["/var/lib/kubelet/config.yaml", "/var/lib/kubelet/link", "/var/lib/kubelet/pods"]);
    assert!(node.join("var/lib/kubelet").is_dir(), "the directory itself stays, as kubeadm's CleanDir leaves it");
    assert_eq!(fs_err::read_dir(node.join("var/lib/kubelet")).unwrap().count(), 0);
    assert_eq!(fs_err::read(precious.join("data")).unwrap(), b"keep", "followed a symlink");
    assert_eq!(root.clean_dir("/var/lib/kubelet").unwrap(), Vec::<std::path::PathBuf>::new());
    assert_eq!(root.clean_dir("/var/lib/etcd").unwrap(), Vec::<std::path::PathBuf>::new(), "a missing directory is fine");
    // A symlinked directory itself resolves inside the root, as in a chroot.
    std::os::unix::fs::symlink("/../../precious", node.join("var/lib/etcd")).unwrap();
    assert!(root.clean_dir("/var/lib/etcd").is_ok());
    assert_eq!(fs_err::read(precious.join("data")).unwrap(), b"keep", "a symlinked directory led out of the root");
}
