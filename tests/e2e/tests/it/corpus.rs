//! The bad-bundle corpus, end to end through `airadm images import`: every mutation of a real
//! bundle is refused with a one-line error naming what was wrong, with nothing imported into
//! containerd (no image record, no lease, streamed content garbage-collected) and no staging
//! directory left on the CRI-O path.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

use bundle::manifest::{MANIFEST_PATH, SIGNATURE_PATH};
use testkit::rawtar::{self, Raw};
use testkit::{Containerd, run_fails, run_ok};

use crate::{World, airadm, bundle_file};

fn decompress(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bundle).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn compress(entries: &[Raw]) -> Vec<u8> {
    let mut enc = bundle::writer::new_encoder(Vec::new(), 1, 1).unwrap();
    enc.write_all(&rawtar::write(entries)).unwrap();
    enc.finish().unwrap()
}

/// Each case: a name, the bundle bytes, and a text the one-line error must contain.
fn corpus(good: &[u8]) -> Vec<(&'static str, Vec<u8>, String)> {
    let entries = || rawtar::read(&decompress(good));
    let mutated = |f: &dyn Fn(&mut Vec<Raw>)| {
        let mut e = entries();
        f(&mut e);
        compress(&e)
    };
    let pristine = entries();
    assert_eq!(pristine[0].name(), MANIFEST_PATH);
    assert_eq!(pristine[1].name(), SIGNATURE_PATH);
    // The largest blob, and a small entry to replace with other kinds.
    let (big, _) = pristine.iter().enumerate().skip(2).max_by_key(|(_, e)| e.data.len()).unwrap();
    let big_name = pristine[big].name();
    let layout = pristine.iter().position(|e| e.name() == "oci/oci-layout").unwrap();

    let mut cases: Vec<(&'static str, Vec<u8>, String)> = vec![
        ("byte flipped in the manifest", mutated(&|e| e[0].data[40] ^= 0x01), SIGNATURE_PATH.into()),
        ("byte flipped in the signature", mutated(&|e| flip_signature(&mut e[1].data)), SIGNATURE_PATH.into()),
        ("byte flipped in a blob", mutated(&|e| e[big].data[1000] ^= 0x01), big_name.clone()),
        ("extra entry", mutated(&|e| e.push(Raw::file("oci/blobs/sha256/extra", b"x"))), "oci/blobs/sha256/extra".into()),
        ("missing entry", mutated(&|e| drop(e.remove(big))), big_name.clone()),
        ("duplicate entry", mutated(&|e| e.push(Raw::file("oci/oci-layout", &e[layout].data.clone()))), "appears twice".into()),
        ("entry named ../x", mutated(&|e| e.insert(2, Raw::file("../x", b"x"))), "../x".into()),
        ("entry named /etc/x", mutated(&|e| e.insert(2, Raw::file("/etc/x", b"x"))), "/etc/x".into()),
        (
            "symlink entry",
            mutated(&|e| e[layout] = Raw::other(b"oci/oci-layout", tar::EntryType::Symlink, vec![], b"/etc/passwd")),
            "oci/oci-layout".into(),
        ),
        (
            "hard link entry",
            mutated(&|e| e[layout] = Raw::other(b"oci/oci-layout", tar::EntryType::Link, vec![], b"oci/index.json")),
            "oci/oci-layout".into(),
        ),
        ("blob larger than declared", mutated(&|e| e[big].data.extend_from_slice(&[0; 4096])), big_name.clone()),
    ];
    let mut stream = good.to_vec();
    let at = stream.len() / 3;
    stream[at] ^= 0x10;
    cases.push(("byte flipped in the compressed stream", stream, "bundle".into()));
    for (name, len) in [("truncated in the header", 20), ("truncated early", 4096), ("truncated halfway", good.len() / 2)] {
        cases.push((name, good[..len].to_vec(), "corrupt or truncated".into()));
    }
    cases.push(("truncated by one byte", good[..good.len() - 1].to_vec(), "corrupt or truncated".into()));
    cases
}

/// Changes one base64 character of the signature line (line 2) to another valid one.
fn flip_signature(sig: &mut [u8]) {
    let line2 = sig.iter().position(|&b| b == b'\n').unwrap() + 1;
    let at = line2 + 20;
    sig[at] = if sig[at] == b'A' { b'B' } else { b'A' };
}

fn import(bundle: &Path, key: &Path, ctd: &Containerd) -> std::process::Command {
    crate::import_into(bundle, key, ctd, &["--quiet"])
}

#[test]
fn every_bad_bundle_is_refused_with_nothing_imported() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let good_path = bundle_file(&w.path("out"), "amd64");
    let good = fs_err::read(&good_path).unwrap();
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    let storage = w.path("storage");
    fs_err::create_dir_all(&storage).unwrap();
    let conf = crate::import::storage_conf(&storage);
    let staging = w.path("staging");
    // No `.minisig` beside the bad copies: the entry checks themselves must catch each case.
    let bad = w.path("bad").join("kubernetes-v1.31.2-linux-amd64.tar.zst");
    fs_err::create_dir_all(bad.parent().unwrap()).unwrap();

    let cases = corpus(&good);
    assert_eq!(cases.len(), 16);
    for (case, bytes, expected) in cases {
        fs_err::write(&bad, &bytes).unwrap();
        let err = run_fails(import(&bad, &public, &ctd));
        assert_eq!(err.trim().lines().count(), 1, "{case}: {err}");
        assert!(err.contains(&expected), "{case}: error does not name `{expected}`: {err}");
        assert!(ctd.ctr_ok(&["images", "ls", "-q"]).trim().is_empty(), "{case}: an image record was created");
        assert!(ctd.ctr_ok(&["leases", "ls", "-q"]).trim().is_empty(), "{case}: lease left behind");

        let mut crio = airadm();
        crio.args(["images", "import", "--quiet", "--runtime", "cri-o", "--bundle"])
            .arg(&bad)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--staging-dir")
            .arg(&staging)
            .env("CONTAINERS_STORAGE_CONF", &conf);
        let err = run_fails(crio);
        assert!(err.contains(&expected), "{case} (CRI-O path): {err}");
        assert_eq!(fs_err::read_dir(&staging).unwrap().count(), 0, "{case}: staging dir left behind");
    }
    assert!(!storage.join("graph").join("vfs-images").exists(), "a refused bundle reached containers-storage");

    // Content streamed in before a failure is unreferenced: containerd's GC removes it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ctd.ctr_ok(&["content", "ls", "-q"]).trim().is_empty() {
        assert!(Instant::now() < deadline, "content left behind: {}", ctd.ctr_ok(&["content", "ls", "-q"]));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The pristine bundle, re-tarred the same way, still imports: the mutations are what failed.
    fs_err::write(&bad, compress(&rawtar::read(&decompress(&good)))).unwrap();
    run_ok(import(&bad, &public, &ctd));
    assert_eq!(ctd.ctr_ok(&["images", "ls", "-q"]).lines().count(), 14);
}
