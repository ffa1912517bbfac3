//! What the writer emits: plain ustar regular files only, names that fit ustar or a clear error.

use std::io::Read as _;

use bundle::{WriteError, WriterOptions};
use testkit::rawtar;

use crate::{MemorySource, keys, manifest_for, verify};

fn tar_of(bundle: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    zstd::stream::read::Decoder::new(bundle).unwrap().read_to_end(&mut tar).unwrap();
    tar
}

fn build(files: Vec<(String, Vec<u8>)>) -> Result<Vec<u8>, WriteError> {
    let k = keys();
    let manifest = manifest_for(&files);
    let signature = k.secret.sign(&manifest.to_bytes()[..], &manifest.trusted_comment()).unwrap();
    let options = WriterOptions { level: 3, workers: 1, mtime: 1_700_000_000 };
    let (out, _) = bundle::write_bundle(Vec::new(), options, &manifest, &signature, &mut MemorySource(files))?;
    verify(&out, std::slice::from_ref(&k.public)).unwrap();
    Ok(out)
}

#[test]
fn every_header_the_writer_emits_is_a_plain_ustar_regular_file() {
    let long = format!("oci/{}/{}", "d".repeat(120), "f".repeat(90));
    let mut files = crate::contents();
    files.push((long.clone(), b"long name".to_vec()));
    files.sort();
    let tar = tar_of(&build(files.clone()).unwrap());
    let headers = rawtar::headers(&tar);
    assert_eq!(headers.len(), files.len() + 2);
    for h in &headers {
        let name = String::from_utf8_lossy(&h[..100]).trim_end_matches('\0').to_owned();
        assert_eq!(h[156], b'0', "{name}: type");
        assert_eq!(&h[257..265], b"ustar\x0000", "{name}: magic and version");
        assert_eq!(&h[100..108], b"0000644\0", "{name}: mode");
        assert_eq!((&h[108..116], &h[116..124]), (&b"0000000\0"[..], &b"0000000\0"[..]), "{name}: owner");
        assert_eq!(&h[136..148], b"14524770400\0", "{name}: mtime");
        assert!(h[157..257].iter().all(|&b| b == 0), "{name}: link name");
        assert!(h[265..345].iter().all(|&b| b == 0), "{name}: user and group names");
        let checksum = u32::from_str_radix(std::str::from_utf8(&h[148..156]).unwrap().trim_end_matches(['\0', ' ']), 8).unwrap();
        assert_eq!(checksum, rawtar::checksum(h), "{name}: checksum");
    }
    // The long name is split at a `/` into prefix and name, as ustar does it.
    let split = headers.iter().find(|h| h[345] != 0).expect("a header using the prefix field");
    assert_eq!(split[345..345 + 124], *format!("oci/{}", "d".repeat(120)).as_bytes());
    assert_eq!(split[..90], *"f".repeat(90).as_bytes());
    // Nothing but the two zero blocks after the last entry.
    let size = |h: &[u8; 512]| usize::from_str_radix(std::str::from_utf8(&h[124..135]).unwrap(), 8).unwrap();
    let end: usize = headers.iter().map(|h| 512 + size(h).div_ceil(512) * 512).sum();
    assert_eq!(tar.len(), end + 1024);
    assert!(tar[end..].iter().all(|&b| b == 0));
}

#[test]
fn names_that_do_not_fit_ustar_are_refused_at_write_time() {
    for name in [
        format!("oci/{}", "x".repeat(101)),
        format!("{}/{}", "d".repeat(156), "f".repeat(10)),
        format!("{}/{}", "d".repeat(200), "f".repeat(50)),
    ] {
        let mut files = crate::contents();
        files.push((name.clone(), b"x".to_vec()));
        files.sort();
        let err = build(files).unwrap_err();
        assert!(matches!(&err, WriteError::NameTooLong { path } if path.as_str() == name), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "bundle entry name `{name}` does not fit a ustar header (at most 100 bytes, or a `/`-split 155 + 100): shorten the image or file name"
            )
        );
    }
}

#[test]
fn entries_of_8_gib_or_more_are_refused_at_write_time() {
    let k = keys();
    let mut files = crate::contents();
    let mut manifest = manifest_for(&files);
    manifest.entries[0].size = 8 << 30;
    files[0].1.clear();
    let signature = k.secret.sign(&manifest.to_bytes()[..], &manifest.trusted_comment()).unwrap();
    let options = WriterOptions { level: 3, workers: 1, mtime: 0 };
    let err = bundle::write_bundle(Vec::new(), options, &manifest, &signature, &mut MemorySource(files)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bundle entry `configs/kubeadm-config.yaml` is 8589934592 bytes, more than a ustar header can hold (8589934591)"
    );
}
