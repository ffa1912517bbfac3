//! init's phase tree: kubeadm's names and order, `--skip-phases` on it.

use super::runner;

fn names(skip: &[&str], filter: &[&str]) -> Vec<String> {
    let runner = runner();
    let strings = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let plan = runner.plan(&strings(filter), &strings(skip)).unwrap();
    let entries = runner.entries();
    plan.iter().map(|&i| entries[i].name.clone()).collect()
}

#[test]
fn the_tree_is_ours_then_kubeadms_in_order() {
    let runner = runner();
    let top: Vec<&str> = runner.phases().iter().map(|p| p.name).collect();
    assert_eq!(
        top,
        [
            "import",
            "binaries",
            "preflight",
            "certs",
            "kubeconfig",
            "etcd",
            "control-plane",
            "kubelet-start",
            "wait-control-plane",
            "upload-config",
            "upload-certs",
            "mark-control-plane",
            "bootstrap-token",
            "kubelet-finalize",
            "addon",
            "cni",
            "show-join-command"
        ]
    );
    let certs: Vec<String> = names(&[], &["certs"]);
    assert_eq!(certs[..3], ["certs", "certs/all", "certs/ca"]);
    assert_eq!(certs.last().map(String::as_str), Some("certs/sa"));
    assert_eq!(certs.len(), 2 + 11);
}

#[test]
fn skip_phases_drop_whole_phases_or_single_sub_phases() {
    let all = names(&[], &[]);
    let skipped = names(&["import", "certs/etcd-ca", "addon"], &[]);
    assert!(!skipped.iter().any(|n| n == "import" || n.starts_with("addon")), "{skipped:?}");
    assert!(skipped.contains(&"certs/etcd-server".to_owned()) && !skipped.contains(&"certs/etcd-ca".to_owned()));
    assert_eq!(all.len() - skipped.len(), 1 + 1 + 4, "import, certs/etcd-ca, and addon with its three sub-phases");
}

#[test]
fn show_join_command_needs_the_token_and_certs_phases_in_the_same_run() {
    let runner = runner();
    let err = runner.plan(&["show-join-command".to_owned()], &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("unresolved dependencies: missing [bootstrap-token upload-certs] phase(s) needed by \"show-join-command\" phase")
    );
}
