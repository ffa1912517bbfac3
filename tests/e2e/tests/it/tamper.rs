//! `airadm verify` on tampered, truncated and foreign bundles; interrupted builds.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{run_fails, run_ok};

use crate::{World, airadm, bundle_file};

fn verify(bundle: &Path, key: &Path) -> Command {
    let mut cmd = airadm();
    cmd.args(["verify", "--bundle"]).arg(bundle).arg("--trusted-key").arg(key);
    cmd
}

#[test]
fn tampered_truncated_and_foreign_bundles_are_refused() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    let out = w.path("out");
    run_ok(w.build(&key, "amd64", &out, &[]));
    let good = fs_err::read(bundle_file(&out, "amd64")).unwrap();
    let signature = fs_err::read(out.join("kubernetes-v1.31.2-linux-amd64.tar.zst.minisig")).unwrap();
    let bad = w.path("bad");
    fs_err::create_dir_all(&bad).unwrap();
    let target = bundle_file(&bad, "amd64");
    fs_err::write(bad.join("kubernetes-v1.31.2-linux-amd64.tar.zst.minisig"), &signature).unwrap();

    let step = good.len() / 23;
    for position in (0..good.len()).step_by(step).chain([5, 100, good.len() - 1]) {
        let mut bytes = good.clone();
        bytes[position] ^= 0x10;
        fs_err::write(&target, &bytes).unwrap();
        let err = run_fails(verify(&target, &public));
        assert!(err.starts_with("error: ") && err.lines().count() == 1, "flip at {position}: {err}");
    }
    for len in [0, 6, 512, good.len() / 3, good.len() / 2, good.len() - 8] {
        fs_err::write(&target, &good[..len]).unwrap();
        let err = run_fails(verify(&target, &public));
        assert!(err.lines().count() == 1, "truncated to {len}: {err}");
    }
    // Without the detached signature, content tampering is still refused with the entry named.
    fs_err::remove_file(bad.join("kubernetes-v1.31.2-linux-amd64.tar.zst.minisig")).unwrap();
    fs_err::write(&target, &good[..good.len() / 2]).unwrap();
    let err = run_fails(verify(&target, &public));
    assert!(err.contains("corrupt or truncated"), "{err}");

    // Another signer's key: the error names the key that signed it and what to do.
    let (_, other) = w.keygen("other");
    fs_err::write(&target, &good).unwrap();
    let err = run_fails(verify(&target, &other));
    assert!(err.contains("not a trusted key") && err.contains("--trusted-key"), "{err}");
    run_ok(verify(&target, &public));
}

#[test]
fn verify_without_any_trusted_key_says_how_to_provide_one() {
    let w = World::new(1_000);
    let (key, _) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let err = run_fails(airadm().args(["verify", "--bundle"]).arg(bundle_file(&w.path("out"), "amd64")));
    assert!(err.contains("--trusted-key") && err.contains("/etc/airadm/trusted-keys"), "{err}");
}

#[test]
fn a_build_killed_while_packing_leaves_no_final_file_and_can_be_rerun() {
    // Big incompressible layers at zstd level 19 make packing take seconds.
    let w = World::new(4_000_000);
    let (key, public) = w.keygen("release");
    let out = w.path("out");
    let mut child = w.build(&key, "amd64", &out, &["--zstd-level", "19", "--zstd-workers", "1"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let partial = loop {
        let names: Vec<String> =
            fs_err::read_dir(&out).map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        if let Some(name) = names.iter().find(|n| n.ends_with(".partial")) {
            break name.clone();
        }
        assert!(child.try_wait().unwrap().is_none(), "build finished before it could be interrupted");
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.starts_with('.'), "{partial}");
    assert!(!bundle_file(&out, "amd64").exists(), "a killed build left a file under the final name");
    run_ok(w.build(&key, "amd64", &out, &["--zstd-level", "1"]));
    run_ok(verify(&bundle_file(&out, "amd64"), &public));
}
