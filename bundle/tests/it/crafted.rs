//! Crafted bundles no well-behaved writer makes: tar extensions (PAX, GNU long names, sparse
//! files), foreign header formats, bad checksums, padding beyond what tar writes, extra zstd
//! frames. Each is refused with the exact message, naming the entry.

use std::io::{Read as _, Write as _};

use bundle::VerifyError;
use bundle::manifest::{MANIFEST_PATH, SIGNATURE_PATH};
use testkit::rawtar;

use crate::{Keys, Raw, body, contents, craft, head, keys, manifest_for, pristine, verify};

const CONFIG: &str = "configs/kubeadm-config.yaml";

fn refused(bytes: &[u8], k: &Keys) -> VerifyError {
    verify(bytes, std::slice::from_ref(&k.public)).expect_err("crafted bundle verified")
}

/// The pristine entries with `f` applied, as a crafted bundle.
fn crafted(k: &Keys, f: impl FnOnce(&mut Vec<Raw>)) -> Vec<u8> {
    let mut entries = head(k, &manifest_for(&contents()));
    entries.extend(body());
    f(&mut entries);
    craft(&entries)
}

fn config_index(entries: &[Raw]) -> usize {
    entries.iter().position(|e| e.name() == CONFIG).unwrap()
}

#[test]
fn pax_size_override_is_refused_naming_the_entry() {
    // The ustar size matches the manifest; the PAX `size` adds bytes tar would extract unhashed.
    let k = keys();
    let bytes = crafted(&k, |e| {
        let at = config_index(e);
        let signed = e[at].data.len();
        e[at].header_size = Some(signed as u64);
        e[at].data.extend_from_slice(b"\nextra: unsigned\n");
        let size = e[at].data.len().to_string();
        e.insert(at, Raw::pax(&[("size", &size)]));
    });
    let err = refused(&bytes, &k);
    assert_eq!(
        err.to_string(),
        "bundle entry `configs/kubeadm-config.yaml` is preceded by a PAX extended header, only plain ustar regular files are allowed"
    );
    assert!(matches!(&err, VerifyError::Extension { path: Some(path), .. } if path == CONFIG), "{err:?}");
}

#[test]
fn every_extension_header_is_refused_naming_the_entry_it_precedes() {
    let k = keys();
    let cases: [(Raw, &str); 4] = [
        (Raw::pax(&[("path", CONFIG)]), "PAX extended header"),
        (Raw::pax_global(&[("comment", "x")]), "PAX global header"),
        (Raw::gnu_long(tar::EntryType::GNULongName, CONFIG.as_bytes()), "GNU long name header"),
        (Raw::gnu_long(tar::EntryType::GNULongLink, b"oci/index.json"), "GNU long link name header"),
    ];
    for (extension, kind) in cases {
        let bytes = crafted(&k, |e| {
            let at = config_index(e);
            e.insert(at, extension);
        });
        let err = refused(&bytes, &k);
        let expected = format!("bundle entry `{CONFIG}` is preceded by a {kind}, only plain ustar regular files are allowed");
        assert_eq!(err.to_string(), expected);
    }
    // Before the manifest too: the extension is refused before the name is looked at.
    let bytes = crafted(&k, |e| e.insert(0, Raw::pax(&[("path", "x")])));
    assert_eq!(
        refused(&bytes, &k).to_string(),
        "bundle entry `airbundle.json` is preceded by a PAX extended header, only plain ustar regular files are allowed"
    );
}

#[test]
fn huge_extension_headers_are_refused_without_reading_them() {
    let k = keys();
    // First entry: a 1 GiB GNU long name (declared; the stream need not even hold it).
    let first = vec![Raw { header_size: Some(1 << 30), ..Raw::gnu_long(tar::EntryType::GNULongName, b"x") }];
    let err = refused(&craft(&first), &k);
    assert_eq!(
        err.to_string(),
        "bundle has a GNU long name header of 1073741824 bytes before its first entry, only plain ustar regular files are allowed"
    );
    assert!(matches!(err, VerifyError::Extension { path: None, after: None, size: 1_073_741_824, .. }), "{err:?}");
    // After the signature: a huge PAX header, named by the entry before it.
    let bytes = crafted(&k, |e| {
        e.truncate(2);
        e.push(Raw { header_size: Some((8 << 30) - 1), ..Raw::pax(&[]) });
    });
    let err = refused(&bytes, &k);
    assert_eq!(
        err.to_string(),
        "bundle has a PAX extended header of 8589934591 bytes after entry `airbundle.json.minisig`, only plain ustar regular files are allowed"
    );
}

#[test]
fn sparse_contiguous_and_other_gnu_types_are_refused() {
    let k = keys();
    for (kind, what) in [
        (b'S', "GNU sparse file"),
        (b'7', "contiguous file"),
        (b'V', "GNU volume label"),
        (b'M', "GNU multi-volume continuation"),
        (b'D', "GNU directory dump"),
        (b'N', "GNU old long name"),
        (b'Z', "non-regular entry (type 'Z')"),
    ] {
        let bytes = crafted(&k, |e| {
            let at = config_index(e);
            e[at].kind = tar::EntryType::new(kind);
        });
        let err = refused(&bytes, &k);
        assert_eq!(err.to_string(), format!("bundle entry `{CONFIG}` is a {what}, only plain ustar regular files are allowed"));
    }
    // tar-rs cannot write type NUL (old tar's regular file): edit the byte.
    let bytes = crafted(&k, |e| {
        let at = config_index(e);
        e[at].edit = Some(|h| h[156] = 0)
    });
    let err = refused(&bytes, &k);
    let expected = format!("bundle entry `{CONFIG}` is a pre-POSIX regular file (type NUL), only plain ustar regular files are allowed");
    assert_eq!(err.to_string(), expected);
}

#[test]
fn gnu_and_pre_posix_headers_are_refused() {
    let k = keys();
    let gnu: fn(&mut [u8; 512]) = |h| h[257..265].copy_from_slice(b"ustar  \0");
    let v7: fn(&mut [u8; 512]) = |h| h[257..265].fill(0);
    let version: fn(&mut [u8; 512]) = |h| h[263..265].copy_from_slice(b"01");
    for (edit, what) in [(gnu, "a GNU tar"), (v7, "a pre-POSIX (v7) tar"), (version, "an unrecognised (magic `ustar\\x00`, version `01`)")]
    {
        let bytes = crafted(&k, |e| {
            let at = config_index(e);
            e[at].edit = Some(edit)
        });
        let err = refused(&bytes, &k);
        assert_eq!(err.to_string(), format!("bundle entry `{CONFIG}` has {what} header, only plain ustar regular files are allowed"));
    }
    // The manifest's own header is checked the same way.
    let bytes = crafted(&k, |e| e[0].edit = Some(gnu));
    assert!(matches!(refused(&bytes, &k), VerifyError::NotUstar { path, .. } if path == MANIFEST_PATH));
}

#[test]
fn bad_checksum_base256_size_and_special_modes_are_refused() {
    let k = keys();
    let bytes = crafted(&k, |e| {
        let at = config_index(e);
        e[at].bad_checksum = true
    });
    let err = refused(&bytes, &k);
    assert!(matches!(&err, VerifyError::Corrupt { at, .. } if at == SIGNATURE_PATH), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("bundle is corrupt or truncated (at {SIGNATURE_PATH}): the header after this entry has a bad checksum")
    );

    // GNU's base-256 numbers are an extension too.
    let base256: fn(&mut [u8; 512]) = |h| {
        h[124..136].fill(0);
        h[124] = 0x80;
        h[135] = 27;
    };
    let bytes = crafted(&k, |e| {
        let at = config_index(e);
        e[at].edit = Some(base256)
    });
    let err = refused(&bytes, &k);
    assert_eq!(err.to_string(), format!("bundle is corrupt or truncated (at {CONFIG}): header size field is not an octal number"));

    let setuid: fn(&mut [u8; 512]) = |h| h[100..108].copy_from_slice(b"0004755\0");
    let bytes = crafted(&k, |e| {
        let at = config_index(e);
        e[at].edit = Some(setuid)
    });
    let err = refused(&bytes, &k);
    assert_eq!(err.to_string(), format!("bundle entry `{CONFIG}` has mode 04755, only permission bits (at most 0777) are allowed"));
}

#[test]
fn non_zero_entry_padding_is_refused() {
    let k = keys();
    let mut entries = head(&k, &manifest_for(&contents()));
    entries.extend(body());
    let mut tar = rawtar::write(&entries);
    // The config is 27 bytes: its padding follows at offset 27 of its data.
    let headers = rawtar::headers(&tar);
    let config = headers.iter().position(|h| h.starts_with(CONFIG.as_bytes())).unwrap();
    let offset = offset_of_header(&tar, config) + 512 + entries[config].data.len();
    tar[offset] = b'!';
    let err = refused(&compress(&tar), &k);
    assert_eq!(err.to_string(), format!("bundle is corrupt or truncated (at {CONFIG}): non-zero bytes in the padding after the entry"));
}

fn offset_of_header(tar: &[u8], index: usize) -> usize {
    let mut at = 0;
    for _ in 0..index {
        let size = u64::from_str_radix(std::str::from_utf8(&tar[at + 124..at + 135]).unwrap(), 8).unwrap() as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    at
}

fn compress(tar: &[u8]) -> Vec<u8> {
    let mut enc = bundle::writer::new_encoder(Vec::new(), 3, 1).unwrap();
    enc.write_all(tar).unwrap();
    enc.finish().unwrap()
}

fn pristine_tar(k: &Keys) -> Vec<u8> {
    let mut tar = Vec::new();
    zstd::stream::read::Decoder::new(&pristine(k)[..]).unwrap().read_to_end(&mut tar).unwrap();
    tar
}

#[test]
fn padding_to_a_gnu_tar_record_is_accepted_and_more_is_refused() {
    let k = keys();
    let mut tar = pristine_tar(&k);
    assert_ne!(tar.len() % 10240, 0, "the sample must end inside a record");
    tar.resize(tar.len().div_ceil(10240) * 10240, 0);
    verify(&compress(&tar), std::slice::from_ref(&k.public)).unwrap();

    let limit = tar.len() - pristine_tar(&k).len();
    tar.extend_from_slice(&[0; 512]);
    let err = refused(&compress(&tar), &k);
    assert!(matches!(err, VerifyError::Padding { limit: l } if l == limit as u64), "{err:?}");
    let expected = format!("bundle has more than the {limit} bytes of zero padding tar writes after the end-of-archive marker");
    assert_eq!(err.to_string(), expected);
}

#[test]
fn a_lone_zero_block_or_data_in_the_padding_is_refused() {
    let k = keys();
    let tar = pristine_tar(&k);
    // A zero block, then another entry: GNU tar stops at the zero block, so we refuse.
    let mut lone = tar[..tar.len() - 1024].to_vec();
    lone.extend_from_slice(&[0; 512]);
    lone.extend_from_slice(&rawtar::write(&[Raw::file("oci/extra", b"x")]));
    assert!(matches!(refused(&compress(&lone), &k), VerifyError::TrailingData), "lone zero block");
    let mut dirty = tar.clone();
    dirty.extend_from_slice(&[0; 100]);
    dirty.push(1);
    assert!(matches!(refused(&compress(&dirty), &k), VerifyError::TrailingData), "data in the padding");
}

#[test]
fn extra_and_skippable_zstd_frames_and_foreign_windows_are_refused() {
    let k = keys();
    let good = pristine(&k);
    let after_frame = "bundle has data after its zstd frame: a bundle is exactly one zstd frame";
    // A second, valid frame: zstd -d would decode both.
    let mut concatenated = good.clone();
    concatenated.extend_from_slice(&compress(&rawtar::write(&[Raw::file("oci/extra", b"x")])));
    assert_eq!(refused(&concatenated, &k).to_string(), after_frame);
    // A skippable frame after the bundle's frame.
    let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0][..], b"junk"].concat();
    let mut after = good.clone();
    after.extend_from_slice(&skippable);
    assert_eq!(refused(&after, &k).to_string(), after_frame);
    // A skippable frame in front: refused at the first bytes.
    let before = [&skippable[..], &good].concat();
    let err = refused(&before, &k);
    assert!(matches!(&err, VerifyError::Corrupt { at, .. } if at == "start"), "{err:?}");
    // A frame claiming a 2 GiB window.
    let mut window = good.clone();
    window[5] = (31 - 10) << 3;
    let err = refused(&window, &k);
    assert!(matches!(&err, VerifyError::Corrupt { at, .. } if at == "start"), "{err:?}");
    assert!(err.to_string().contains("not the one airbundle writes"), "{err}");
}
