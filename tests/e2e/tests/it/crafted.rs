//! Crafted bundles through `airadm verify` as a child process: tar extensions (the PAX `size`
//! override, gigabyte GNU long names and PAX headers), a huge declared manifest, foreign zstd
//! windows, skippable and concatenated frames, padding beyond tar's record, a huge `.minisig`.
//! Each is refused with one exact line naming the entry, at under 64 MiB peak RSS (measured by
//! GNU time from the kernel's rusage of the child). A bundle re-tarred by GNU tar as ustar,
//! padded to its 10240-byte record, still verifies.
// Each case's outcome and peak RSS go to stderr (seen with --nocapture), the figures the issue asks for.
#![allow(clippy::print_stderr)]

use std::io::{BufWriter, Read as _, Write};
use std::path::Path;
use std::process::Command;

use bundle::manifest::{MANIFEST_PATH, SIGNATURE_PATH};
use testkit::rawtar::{self, Raw};
use testkit::{require, run_fails, run_ok};

use crate::{World, airadm, bundle_file};

const CONFIG: &str = "configs/kubeadm-config.yaml";
const RSS_LIMIT_KIB: u64 = 64 * 1024;

fn decompress(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(bundle).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn compress(tar: &[u8]) -> Vec<u8> {
    let mut enc = bundle::writer::new_encoder(Vec::new(), 1, 1).unwrap();
    enc.write_all(tar).unwrap();
    enc.finish().unwrap()
}

/// `airadm ARGS` under GNU time: (exit success, stderr, peak RSS in KiB).
fn measured(args: &[&std::ffi::OsStr], rss_file: &Path) -> (bool, String, u64) {
    let time = require("time", "time");
    let out = testkit::run(Command::new(time).arg("-f").arg("%M").arg("-o").arg(rss_file).arg(testkit::workspace_bin("airadm")).args(args));
    let rss = fs_err::read_to_string(rss_file).unwrap();
    let kib = rss.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or_else(|| panic!("GNU time wrote {rss:?}"));
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned(), kib)
}

/// `airadm verify` of `bundle` must fail with exactly `expected` (after `error: `<file>`: `)
/// under the RSS limit; what went wrong is added to `failures`, so that one run shows every case.
fn check_refused(w: &World, bundle: &Path, public: &Path, case: &str, expected: &str, failures: &mut Vec<String>) {
    let args = ["verify".as_ref(), "--bundle".as_ref(), bundle.as_os_str(), "--trusted-key".as_ref(), public.as_os_str()];
    let (ok, err, kib) = measured(&args, &w.path("rss"));
    let expected = format!("error: `{}`: {expected}\n", bundle.display());
    eprintln!("{case}: exit {}, {kib} KiB peak RSS: {}", if ok { "0" } else { "1" }, err.trim());
    if ok || err != expected || kib >= RSS_LIMIT_KIB {
        failures.push(format!("{case}: verified: {ok}, peak RSS {kib} KiB, stderr {err:?}, expected {expected:?}"));
    }
}

/// Writes a crafted bundle without holding it in memory: `before` raw entries, an entry of
/// `zeros` zero bytes under `header`, then `after` (and the end of the archive).
fn stream(path: &Path, before: &[Raw], header: &[u8; 512], zeros: u64, after: &[Raw]) {
    let file = BufWriter::new(fs_err::File::create(path).unwrap());
    let mut enc = bundle::writer::new_encoder(file, 1, 1).unwrap();
    let head = rawtar::write(before);
    enc.write_all(&head[..head.len() - 1024]).unwrap();
    rawtar::write_zeros(&mut enc, header, zeros).unwrap();
    enc.write_all(&rawtar::write(after)).unwrap();
    enc.finish().unwrap().flush().unwrap();
}

#[test]
fn crafted_bundles_are_refused_naming_the_entry_within_64_mib() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let good = fs_err::read(bundle_file(&w.path("out"), "amd64")).unwrap();
    let entries = || rawtar::read(&decompress(&good));
    let config = entries().iter().position(|e| e.name() == CONFIG).unwrap();
    // No `.minisig` beside the crafted copies: the reader alone must refuse them.
    let bad = w.path("bad.tar.zst");
    let mut failures = Vec::new();

    // The PAX `size` override: the ustar size is the signed one, tar would extract more.
    let mut e = entries();
    let signed = e[config].data.clone();
    e[config].header_size = Some(signed.len() as u64);
    e[config].data.extend_from_slice(b"\n# unsigned bytes\n");
    let size = e[config].data.len().to_string();
    e.insert(config, Raw::pax(&[("size", &size)]));
    fs_err::write(&bad, compress(&rawtar::write(&e))).unwrap();
    // What the issue describes: GNU tar extracts more than was signed.
    let x = w.path("x");
    testkit::tar_extract(&bad, &x);
    let extracted = fs_err::read(x.join(CONFIG)).unwrap();
    assert!(extracted.len() > signed.len() && extracted.starts_with(&signed), "tar x wrote {} bytes", extracted.len());
    let expected = format!("bundle entry `{CONFIG}` is preceded by a PAX extended header, only plain ustar regular files are allowed");
    check_refused(&w, &bad, &public, "PAX size override", &expected, &mut failures);
    // The dry-run import reads the same way (no runtime needed for CRI-O's dry run).
    let out = testkit::run(
        airadm()
            .args(["images", "import", "--dry-run", "--runtime", "cri-o", "--quiet", "--bundle"])
            .arg(&bad)
            .arg("--trusted-key")
            .arg(&public),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || err != format!("error: `{}`: {expected}\n", bad.display()) {
        failures.push(format!("PAX size override, images import --dry-run: exit {}, stderr {err:?}", out.status));
    }

    // A 1 GiB GNU long name as the first entry.
    let long_name = rawtar::header(b"././@LongLink", tar::EntryType::GNULongName, 1 << 30, b"", None, false);
    stream(&bad, &[], &long_name, 1 << 30, &entries());
    let expected =
        "bundle has a GNU long name header of 1073741824 bytes before its first entry, only plain ustar regular files are allowed";
    check_refused(&w, &bad, &public, "1 GiB GNU long name", expected, &mut failures);

    // A 1 GiB PAX header after the signature.
    let pax = rawtar::header(b"././@PaxHeader", tar::EntryType::XHeader, 1 << 30, b"", None, false);
    let (head, body) = {
        let mut e = entries();
        let body = e.split_off(2);
        (e, body)
    };
    stream(&bad, &head, &pax, 1 << 30, &body);
    let expected = format!(
        "bundle has a PAX extended header of 1073741824 bytes after entry `{SIGNATURE_PATH}`, only plain ustar regular files are allowed"
    );
    check_refused(&w, &bad, &public, "1 GiB PAX header", &expected, &mut failures);

    // A manifest declaring 8 GiB; then one of exactly the 16 MiB allowed, not the signed one.
    let mut e = entries();
    e[0].header_size = Some(0o77777777777);
    e.truncate(1);
    fs_err::write(&bad, compress(&rawtar::write(&e))).unwrap();
    check_refused(
        &w,
        &bad,
        &public,
        "8 GiB manifest",
        "bundle entry `airbundle.json` is 8589934591 bytes, more than the 16777216 allowed",
        &mut failures,
    );
    let big_manifest = rawtar::header(MANIFEST_PATH.as_bytes(), tar::EntryType::Regular, 16 << 20, b"", None, false);
    stream(&bad, &[], &big_manifest, 16 << 20, &entries()[1..]);
    let key_id = bundle::PublicKey::from_text(&fs_err::read_to_string(&public).unwrap(), "release.pub").unwrap().key_id();
    let expected =
        format!("bundle entry `{SIGNATURE_PATH}` does not verify with trusted key {key_id}: the data was modified after signing");
    check_refused(&w, &bad, &public, "16 MiB manifest", &expected, &mut failures);

    // zstd frames: a 2 GiB window, a skippable frame before or after, a second frame.
    let mut window = good.clone();
    window[5] = (31 - 10) << 3;
    fs_err::write(&bad, &window).unwrap();
    check_refused(&w, &bad, &public, "2 GiB window", &frame_header_error(&window), &mut failures);
    let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0][..], b"junk"].concat();
    let before = [&skippable[..], &good].concat();
    fs_err::write(&bad, &before).unwrap();
    check_refused(&w, &bad, &public, "skippable frame first", &frame_header_error(&before), &mut failures);
    let after_frame = "bundle has data after its zstd frame: a bundle is exactly one zstd frame";
    fs_err::write(&bad, [&good[..], &skippable].concat()).unwrap();
    check_refused(&w, &bad, &public, "skippable frame after", after_frame, &mut failures);
    let second = compress(&rawtar::write(&[Raw::file("oci/extra", b"x")]));
    fs_err::write(&bad, [&good[..], &second].concat()).unwrap();
    check_refused(&w, &bad, &public, "concatenated frame", after_frame, &mut failures);

    // 1 GiB of zeros after the end-of-archive marker: refused once past tar's record.
    let tar = decompress(&good);
    let file = BufWriter::new(fs_err::File::create(&bad).unwrap());
    let mut enc = bundle::writer::new_encoder(file, 1, 1).unwrap();
    enc.write_all(&tar).unwrap();
    let zero_header = [0u8; 512];
    rawtar::write_zeros(&mut enc, &zero_header, (1 << 30) - 512).unwrap();
    enc.finish().unwrap().flush().unwrap();
    let limit = tar.len().div_ceil(10240) * 10240 - tar.len();
    let expected = format!("bundle has more than the {limit} bytes of zero padding tar writes after the end-of-archive marker");
    check_refused(&w, &bad, &public, "1 GiB of padding", &expected, &mut failures);

    // A 1 GiB `.minisig` beside the pristine bundle (sparse: no disk used).
    fs_err::write(&bad, &good).unwrap();
    let minisig = w.path("bad.tar.zst.minisig");
    fs_err::File::create(&minisig).unwrap().set_len(1 << 30).unwrap();
    let args = ["verify".as_ref(), "--bundle".as_ref(), bad.as_os_str(), "--trusted-key".as_ref(), public.as_os_str()];
    let (ok, err, kib) = measured(&args, &w.path("rss"));
    let expected = format!(
        "error: detached signature `{}` is 1073741824 bytes, more than the 4096 a minisign signature takes: replace it with the bundle's own .minisig\n",
        minisig.display()
    );
    eprintln!("1 GiB .minisig: {kib} KiB peak RSS: {}", err.trim());
    if ok || err != expected || kib >= RSS_LIMIT_KIB {
        failures.push(format!("1 GiB .minisig: verified: {ok}, peak RSS {kib} KiB, stderr {err:?}, expected {expected:?}"));
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

fn frame_header_error(bytes: &[u8]) -> String {
    format!(
        "bundle is corrupt or truncated (at start): zstd frame header {:02x?} is not the one airbundle writes {:02x?}",
        &bytes[..6],
        bundle::writer::FRAME_HEADER
    )
}

#[test]
fn a_bundle_re_tarred_by_gnu_tar_as_ustar_verifies_and_gnu_format_is_refused() {
    let w = World::new(20_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let good = bundle_file(&w.path("out"), "amd64");
    let x = w.path("x");
    testkit::tar_extract(&good, &x);
    // Manifest, signature, then the rest sorted: the order the listing of the original has.
    let names = testkit::tar_listing(&good);
    let retar = |format: &str| {
        let out = Command::new("tar")
            .args(["--format", format, "--owner=0", "--group=0", "--numeric-owner", "--mode=0644", "-b", "20", "-cf", "-", "-C"])
            .arg(&x)
            .args(&names)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let ustar = retar("ustar");
    assert_eq!(ustar.len() % 10240, 0, "GNU tar pads to its 10240-byte record");
    let copy = w.path("retarred.tar.zst");
    fs_err::write(&copy, compress(&ustar)).unwrap();
    let out = run_ok(airadm().args(["verify", "--bundle"]).arg(&copy).arg("--trusted-key").arg(&public));
    assert!(out.contains(": OK: Kubernetes v1.31.2 linux/amd64"), "{out}");

    fs_err::write(&copy, compress(&retar("gnu"))).unwrap();
    let err = run_fails(airadm().args(["verify", "--bundle"]).arg(&copy).arg("--trusted-key").arg(&public));
    let expected = format!(
        "error: `{}`: bundle entry `{MANIFEST_PATH}` has a GNU tar header, only plain ustar regular files are allowed\n",
        copy.display()
    );
    assert_eq!(err, expected);
}

#[test]
fn a_bundle_on_stdin_does_not_look_for_dash_minisig() {
    let w = World::new(1_000);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let cwd = w.path("cwd");
    fs_err::create_dir_all(&cwd).unwrap();
    fs_err::write(cwd.join("-.minisig"), "garbage, not a signature\n").unwrap();
    let stdin = fs_err::File::open(bundle_file(&w.path("out"), "amd64")).unwrap();
    let out =
        run_ok(airadm().args(["verify", "--bundle", "-", "--trusted-key"]).arg(&public).current_dir(&cwd).stdin(stdin.into_parts().0));
    assert!(out.starts_with("-: OK: Kubernetes v1.31.2 linux/amd64") && out.contains("no detached .minisig found"), "{out}");
}
