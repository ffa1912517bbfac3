use serde_json::json;

use super::{PatchError, PatchKind, Patches, apply, parse_file_name, split_documents};

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs_err::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn parses_file_names_as_kubeadm() {
    let ok = |name| parse_file_name(name).ok();
    assert_eq!(ok("kube-apiserver.yaml"), Some(("kube-apiserver", PatchKind::Strategic)));
    assert_eq!(ok("etcd0+json.json"), Some(("etcd", PatchKind::Json)));
    assert_eq!(ok("kube-scheduler-suffix+merge.yaml"), Some(("kube-scheduler", PatchKind::Merge)));
    assert_eq!(ok("kubeletconfiguration+strategic.json"), Some(("kubeletconfiguration", PatchKind::Strategic)));
    assert!(ok("kube-apiserver.txt").is_none());
    assert!(ok("foo.yaml").is_none());
    assert!(matches!(parse_file_name("etcd+bad.yaml"), Err(super::FileNameProblem::BadType)));
    assert!(matches!(parse_file_name("etcd+.yaml"), Err(super::FileNameProblem::BadType)));
}

#[test]
fn splits_documents_at_separator_lines() {
    assert_eq!(split_documents("a: 1\n---\nb: 2\n--- # c\n\n"), ["a: 1", "b: 2"]);
    assert_eq!(split_documents("---\na: 1\n"), ["a: 1"]);
}

#[test]
fn applies_in_file_name_order_with_each_type() {
    let dir = dir_with(&[
        ("etcd1+merge.yaml", "metadata:\n  labels:\n    b: \"2\"\n"),
        ("etcd0.yaml", "metadata:\n  labels:\n    a: \"1\"\n---\nmetadata:\n  labels:\n    c: \"3\"\n"),
        ("etcd2+json.json", r#"[{"op": "replace", "path": "/metadata/labels/a", "value": "x"}]"#),
        ("kube-apiserver.yaml", "metadata:\n  labels:\n    z: z\n"),
        ("notes.txt", "ignored"),
    ]);
    let (doc, applied) = apply("etcd", json!({"metadata": {"labels": {}}}), dir.path()).unwrap();
    assert_eq!(doc, json!({"metadata": {"labels": {"a": "x", "b": "2", "c": "3"}}}));
    assert_eq!(applied, ["etcd0.yaml", "etcd0.yaml", "etcd1+merge.yaml", "etcd2+json.json"]);
    let patches = Patches::read(dir.path()).unwrap();
    let lines = patches.read_lines();
    assert!(lines.contains(
        &"[patches] Found the following patch files: [etcd0.yaml etcd1+merge.yaml etcd2+json.json kube-apiserver.yaml]".to_owned()
    ));
    assert!(lines.contains(&"[patches] Ignored the following files: [notes.txt]".to_owned()));
}

#[test]
fn a_bad_patch_names_its_file() {
    let dir = dir_with(&[("etcd+json.yaml", "- op: remove\n  path: /nope\n")]);
    let err = apply("etcd", json!({}), dir.path()).unwrap_err();
    assert!(matches!(err, PatchError::Apply { .. }));
    assert!(err.to_string().contains("etcd+json.yaml"), "{err}");
    let dir = dir_with(&[("etcd.yaml", "a: [")]);
    let err = apply("etcd", json!({}), dir.path()).unwrap_err();
    assert!(err.to_string().contains("etcd.yaml"), "{err}");
    let dir = dir_with(&[("etcd+nope.yaml", "a: 1")]);
    assert!(apply("etcd", json!({}), dir.path()).unwrap_err().to_string().contains("etcd+nope.yaml"));
    assert!(matches!(apply("etcd", json!({}), &dir.path().join("missing")), Err(PatchError::ReadDir { .. })));
}
