//! `init` checks the bundle's manifest first and decides from it (version, images, config), and
//! imports later: what it imports must be the file it checked. The test swaps another signed
//! bundle in under the same path while `init` waits in between (its `--config` is a FIFO the test
//! writes only after the swap), then checks which bundle reached containerd.

use std::io::Write as _;
use std::process::Stdio;

use testkit::{Containerd, run_ok};

use crate::{World, airadm, bundle_file};

#[test]
fn init_imports_the_file_it_checked_even_when_the_path_is_swapped_under_it() {
    // Two signed bundles of the same version whose images differ (other layer bytes).
    let (checked, other) = (World::new(20_000), World::new(30_000));
    let (key, public) = checked.keygen("release");
    run_ok(checked.build(&key, "amd64", &checked.path("out"), &[]));
    run_ok(other.build(&key, "amd64", &checked.path("other"), &[]));
    let bundle = bundle_file(&checked.path("out"), "amd64");
    let digest = |w: &World| w.pushed.iter().find(|p| p.repository.ends_with("kube-apiserver")).unwrap().manifests["amd64"].clone();
    let (checked_digest, other_digest) = (digest(&checked), digest(&other));
    assert_ne!(checked_digest, other_digest);

    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    let fifo = checked.path("config.yaml");
    run_ok(std::process::Command::new("mkfifo").arg(&fifo));
    let init = airadm()
        .args(["init", "phase", "import", "--bundle"])
        .arg(&bundle)
        .arg("--trusted-key")
        .arg(&public)
        .arg("--config")
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing blocks until init opens it to read the config, which it does
    // after checking the manifest.
    let mut writer = fs_err::OpenOptions::new().write(true).open(&fifo).unwrap();
    fs_err::rename(bundle_file(&checked.path("other"), "amd64"), &bundle).unwrap();
    let config = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.20.30.40\nnodeRegistration:\n  criSocket: unix://{}\n",
        ctd.socket().display()
    );
    writer.write_all(config.as_bytes()).unwrap();
    drop(writer);
    let out = init.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("[import] registry.k8s.io/kube-apiserver:v1.31.2 {checked_digest} (imported)")), "{stdout}");
    let images = ctd.ctr_ok(&["images", "ls"]);
    assert!(images.contains(&checked_digest), "{images}");
    assert!(!images.contains(&other_digest), "{images}");
}
