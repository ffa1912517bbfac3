//! The applier on temp dirs: OCI semantics that need no containerd (the comparison with
//! containerd's own applier is in tests/e2e/tests/it/apply.rs).

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;

use super::*;

/// A tar of `(name, kind, data, link)` entries, mode 0644 (0755 for directories), mtime 7, owner
/// fields left blank; names written as they are (`..` included).
fn tar_of(entries: &[(&str, EntryType, &str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(*kind);
        header.set_size(data.len() as u64);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_mtime(7);
        header.set_cksum();
        tar.append(&header, data.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap()
}

fn apply(root: &Path, tar: &[u8]) -> Applied {
    apply_layer(root, tar, "sha256:test").unwrap()
}

fn exists(path: &Path) -> bool {
    fs_err::symlink_metadata(path).is_ok()
}

const FILE: EntryType = EntryType::Regular;
const DIR: EntryType = EntryType::Directory;

#[test]
fn diff_id_is_the_sha256_of_the_uncompressed_tar_gzip_or_not() {
    let tar = tar_of(&[("a", FILE, "a", "")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    for blob in [&tar, &gz] {
        let root = tempfile::tempdir().unwrap();
        let applied = apply(root.path(), blob);
        assert_eq!(applied, Applied { diff_id: Digest::of(&tar), size: tar.len() as u64 });
        assert_eq!(fs_err::read_to_string(root.path().join("a")).unwrap(), "a");
    }
}

#[test]
fn whiteouts_delete_files_and_directories_of_lower_layers() {
    let root = tempfile::tempdir().unwrap();
    apply(root.path(), &tar_of(&[("d", DIR, "", ""), ("d/f", FILE, "f", ""), ("d/sub", DIR, "", ""), ("d/sub/g", FILE, "g", "")]));
    apply(root.path(), &tar_of(&[("d/.wh.f", FILE, "", ""), ("d/.wh.sub", FILE, "", ""), ("d/.wh.missing", FILE, "", "")]));
    assert!(exists(&root.path().join("d")));
    assert!(!exists(&root.path().join("d/f")) && !exists(&root.path().join("d/sub")));
    assert!(!exists(&root.path().join("d/.wh.f")));
}

#[test]
fn an_opaque_directory_keeps_only_what_its_own_layer_put_there() {
    let root = tempfile::tempdir().unwrap();
    apply(root.path(), &tar_of(&[("d", DIR, "", ""), ("d/lower", FILE, "l", ""), ("d/sub", DIR, "", ""), ("d/sub/x", FILE, "x", "")]));
    apply(
        root.path(),
        &tar_of(&[
            ("d", DIR, "", ""),
            ("d/sub", DIR, "", ""),
            ("d/sub/new", FILE, "n", ""),
            ("d/.wh..wh..opq", FILE, "", ""),
            ("d/after", FILE, "a", ""),
        ]),
    );
    let d = root.path().join("d");
    assert!(!exists(&d.join("lower")) && !exists(&d.join("sub/x")) && !exists(&d.join(".wh..wh..opq")));
    assert!(exists(&d.join("sub/new")) && exists(&d.join("after")));
}

#[test]
fn entries_replace_what_is_there_except_a_directory_onto_a_directory() {
    let root = tempfile::tempdir().unwrap();
    apply(
        root.path(),
        &tar_of(&[("f", FILE, "f", ""), ("d", DIR, "", ""), ("d/child", FILE, "c", ""), ("keep", DIR, "", ""), ("keep/x", FILE, "x", "")]),
    );
    apply(root.path(), &tar_of(&[("f", DIR, "", ""), ("d", FILE, "now a file", ""), ("keep", DIR, "", "")]));
    assert!(fs_err::metadata(root.path().join("f")).unwrap().is_dir());
    assert_eq!(fs_err::read_to_string(root.path().join("d")).unwrap(), "now a file");
    assert!(exists(&root.path().join("keep/x")));
}

#[test]
fn names_and_links_never_leave_the_root() {
    let outside = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let escape = outside.path().to_str().unwrap();
    apply(
        root.path(),
        &tar_of(&[
            ("abs", EntryType::Symlink, "", escape),
            ("up", EntryType::Symlink, "", "../../../.."),
            ("abs/through-absolute", FILE, "1", ""),
            ("up/through-relative", FILE, "2", ""),
            ("../../dotdot", FILE, "3", ""),
            ("hard", EntryType::Link, "", "up/through-relative"),
        ]),
    );
    assert_eq!(fs_err::read_dir(outside.path()).unwrap().count(), 0, "something was written outside the root");
    assert_eq!(fs_err::read_to_string(root.path().join(escape.trim_start_matches('/')).join("through-absolute")).unwrap(), "1");
    assert_eq!(fs_err::read_to_string(root.path().join("through-relative")).unwrap(), "2");
    assert_eq!(fs_err::read_to_string(root.path().join("dotdot")).unwrap(), "3");
    assert_eq!(fs_err::read_to_string(root.path().join("hard")).unwrap(), "2");
}

#[test]
fn modes_times_and_hard_links_are_kept() {
    let root = tempfile::tempdir().unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o4755);
    header.set_mtime(0);
    tar.append_data(&mut header, "bin/su", &b"su"[..]).unwrap();
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(EntryType::Link);
    link.set_size(0);
    link.set_mode(0o4755);
    tar.append_link(&mut link, "bin/su2", "bin/su").unwrap();
    apply(root.path(), &tar.into_inner().unwrap());
    let su = fs_err::metadata(root.path().join("bin/su")).unwrap();
    assert_eq!((su.mode() & 0o7777, su.mtime(), su.nlink()), (0o4755, 0, 2));
    // A parent that no entry names is created 0755, as containerd does.
    assert_eq!(fs_err::metadata(root.path().join("bin")).unwrap().mode() & 0o7777, 0o755);
}

#[test]
fn a_truncated_layer_is_an_error() {
    let tar = tar_of(&[("a", FILE, &"x".repeat(4000), "")]);
    let root = tempfile::tempdir().unwrap();
    assert!(matches!(apply_layer(root.path(), &tar[..2048], "sha256:test"), Err(ApplyError::Entry { .. } | ApplyError::Read { .. })));
}

#[test]
fn pax_times_take_fractions_and_negative_times_become_the_epoch() {
    assert_eq!(pax_time("1700000000.5").unwrap(), (1_700_000_000, 500_000_000));
    assert_eq!(pax_time("12").unwrap(), (12, 0));
    assert!(pax_time("-1.5").unwrap().0 < 0);
    assert!(pax_time("soon").is_err());
}

#[test]
fn clean_takes_dot_dot_lexically_and_never_above_the_root() {
    let parts = |s: &str| clean(Path::new(s)).into_iter().map(|c| c.to_string_lossy().into_owned()).collect::<Vec<_>>();
    assert_eq!(parts("./a/b/../c"), ["a", "c"]);
    assert_eq!(parts("../../etc/passwd"), ["etc", "passwd"]);
    assert_eq!(parts("/abs//x/"), ["abs", "x"]);
    assert!(parts("a/..").is_empty());
}
