//! Refusals that leave nothing, retries that work: a bundle refused late (after most of its blobs
//! reached containerd) leaves the content store, ingests, snapshots, leases and images exactly as
//! they were the moment `airadm` returns, and the intact bundle imported right after succeeds.

use testkit::{Containerd, run_fails, run_ok};

use crate::{World, bundle_file, import_into as import};

/// Everything an import may touch in containerd, as `ctr` lists it.
#[derive(Debug, PartialEq, Eq)]
struct Store {
    content: String,
    ingests: String,
    snapshots: Vec<(&'static str, String)>,
    leases: String,
    images: String,
}

/// The snapshotters the test containerd runs (testkit disables the others).
const SNAPSHOTTERS: &[&str] = &["overlayfs", "native"];

fn columns(listing: &str, keep: impl Fn(&[&str]) -> String) -> String {
    listing.lines().filter(|l| !l.trim().is_empty()).map(|l| keep(&l.split_whitespace().collect::<Vec<_>>())).collect::<Vec<_>>().join("\n")
}

fn store(ctd: &Containerd) -> Store {
    Store {
        // Digest, size and labels (not the age).
        content: columns(&ctd.ctr_ok(&["content", "ls"]), |c| [c[0], c[1], c[c.len() - 1]].join(" ")),
        ingests: columns(&ctd.ctr_ok(&["content", "active"]), |c| c[0].to_owned()),
        snapshots: SNAPSHOTTERS.iter().map(|s| (*s, ctd.ctr_ok(&["snapshots", "--snapshotter", s, "ls"]))).collect(),
        leases: ctd.ctr_ok(&["leases", "ls"]),
        images: ctd.ctr_ok(&["images", "ls"]),
    }
}

#[test]
fn a_late_refusal_leaves_containerd_as_it_was_and_the_intact_bundle_imports_right_after_20_times() {
    let w = World::new(200_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = bundle_file(&w.path("out"), "amd64");
    let intact = fs_err::read(&bundle).unwrap();
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    let bad = w.path("bad.tar.zst");
    for round in 0..20 {
        // A byte flipped in the last tenth of the file: most blobs are in before it is refused.
        let mut bytes = intact.clone();
        let at = bytes.len() - 1 - (round * 7919 + 13) % (bytes.len() / 10);
        bytes[at] ^= 0x20;
        fs_err::write(&bad, &bytes).unwrap();

        let before = store(&ctd);
        let err = run_fails(import(&bad, &public, &ctd, &["--quiet"]));
        assert!(err.contains("bad.tar.zst"), "round {round}: {err}");
        // Right after the command returns: no waiting, no polling.
        assert_eq!(store(&ctd), before, "round {round}: the refused import (byte {at}) left something behind: {err}");

        let out = testkit::run(import(&bundle, &public, &ctd, &["--quiet"]));
        assert!(
            out.status.success(),
            "round {round}: the intact bundle failed right after a refusal (byte {at}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check = ctd.ctr_ok(&["images", "check"]);
        assert_eq!(
            check.lines().skip(1).filter(|l| l.contains("complete") && l.trim_end().ends_with("true")).count(),
            14,
            "round {round}: {check}"
        );
        // Back to an empty store (synchronously), so that the next refused import writes again.
        let names: Vec<String> = ctd.ctr_ok(&["images", "ls", "-q"]).lines().map(str::to_owned).collect();
        let mut rm = vec!["images", "rm", "--sync"];
        rm.extend(names.iter().map(String::as_str));
        ctd.ctr_ok(&rm);
        assert!(ctd.ctr_ok(&["content", "ls", "-q"]).trim().is_empty(), "round {round}: content left after removing the images");
    }
}
