use std::os::unix::fs::PermissionsExt as _;

use super::*;

/// A temp dir (0755) holding `release.pub` (0644).
fn key_dir() -> (tempfile::TempDir, PathBuf, bundle::signature::KeyId) {
    let dir = tempfile::tempdir().unwrap();
    fs_err::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pair = bundle::signature::generate_key_pair(None, "t").unwrap();
    let key = dir.path().join("release.pub");
    fs_err::write(&key, &pair.public).unwrap();
    fs_err::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, key, pair.key_id)
}

fn chmod(path: &Path, mode: u32) {
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn no_key_anywhere_says_how_to_provide_one() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(&[], dir.path()).unwrap_err().to_string();
    assert!(err.contains("--trusted-key") && err.contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn directory_keys_are_used_when_no_flag_is_given() {
    let (dir, _, key_id) = key_dir();
    fs_err::write(dir.path().join("README"), "not a key").unwrap();
    let keys = load(&[], dir.path()).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id(), key_id);
}

#[test]
fn unreadable_flag_names_the_file() {
    let err = load(&[PathBuf::from("/nonexistent/k.pub")], Path::new("/x")).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/k.pub"), "{err}");
}

#[test]
fn group_or_world_writable_keys_are_refused_naming_them_and_the_fix() {
    let (dir, key, _) = key_dir();
    for (mode, who) in [(0o664, "group"), (0o646, "others"), (0o666, "group and others")] {
        chmod(&key, mode);
        for err in [load(&[], dir.path()).unwrap_err(), load(std::slice::from_ref(&key), Path::new("/x")).unwrap_err()] {
            assert_eq!(
                err.to_string(),
                format!(
                    "trusted key `{0}` is writable by {who}, who could then make airadm trust their bundles: run `chmod go-w {0}`",
                    key.display()
                )
            );
        }
    }
    chmod(&key, 0o644);
    assert_eq!(load(&[], dir.path()).unwrap().len(), 1);
}

#[test]
fn a_writable_key_directory_is_refused() {
    let (dir, key, _) = key_dir();
    chmod(dir.path(), 0o777);
    let err = load(&[], dir.path()).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "trusted key directory `{0}` is writable by group and others, who could then make airadm trust their bundles: run `chmod go-w {0}`",
            dir.path().display()
        )
    );
    assert!(load(&[key], Path::new("/x")).unwrap_err().to_string().contains("trusted key directory"));
    chmod(dir.path(), 0o775);
    assert!(load(&[], dir.path()).unwrap_err().to_string().contains("is writable by group,"));
    // A root-owned sticky directory (as /tmp) is safe to keep a key in.
    if rustix::process::geteuid().is_root() {
        chmod(dir.path(), 0o1777);
        assert_eq!(load(&[], dir.path()).unwrap().len(), 1);
    }
}

#[test]
fn keys_owned_by_another_user_are_refused() {
    let (dir, key, _) = key_dir();
    let me = rustix::process::geteuid().as_raw();
    let other = if me == 0 { 65534 } else { me };
    if me == 0 {
        std::os::unix::fs::chown(&key, Some(other), None).unwrap();
        let err = load(&[], dir.path()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "trusted key `{0}` belongs to uid {other}, neither root nor you (uid 0), who could then make airadm trust their bundles: run `chown root {0}`",
                key.display()
            )
        );
    } else {
        // Not root: no other owner can be given; a file of our own is accepted.
        assert_eq!(load(&[], dir.path()).unwrap().len(), 1);
    }
}

#[test]
fn a_directory_that_cannot_be_listed_is_an_error_not_no_keys() {
    let outer = tempfile::tempdir().unwrap();
    // Even root cannot list a symlink loop or a regular file.
    let looped = outer.path().join("loop");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let file = outer.path().join("file");
    fs_err::write(&file, "").unwrap();
    for dir in [looped, file] {
        let err = load(&[], &dir).unwrap_err();
        assert!(matches!(err, TrustedKeyError::Dir { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!("failed to list trusted keys in `{}`", dir.display())), "{err}");
    }
}
