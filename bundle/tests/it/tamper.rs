//! The mutation corpus.

use bundle::VerifyError;
use bundle::manifest::{MANIFEST_PATH, MAX_MANIFEST_SIZE};

use crate::{Raw, body, contents, craft, head, keys, manifest_for, pristine, pristine_signed, verify, verify_file};

fn refused(bytes: &[u8], keys: &crate::Keys) -> VerifyError {
    verify(bytes, std::slice::from_ref(&keys.public)).expect_err("mutated bundle verified")
}

#[test]
fn pristine_bundle_and_crafted_copy_verify() {
    let k = keys();
    let v = verify(&pristine(&k), std::slice::from_ref(&k.public)).unwrap();
    assert_eq!((v.manifest.entries.len(), v.signer), (4, k.public.key_id()));
    let mut entries = head(&k, &manifest_for(&contents()));
    entries.extend(body());
    verify(&craft(&entries), std::slice::from_ref(&k.public)).unwrap();
}

#[test]
fn flipping_any_single_byte_is_detected_with_the_detached_signature() {
    let k = keys();
    let (good, file_signature) = pristine_signed(&k);
    verify_file(&good, std::slice::from_ref(&k.public), &file_signature).unwrap();
    let mut checked = 0;
    for i in 0..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            assert!(
                verify_file(&bad, std::slice::from_ref(&k.public), &file_signature).is_err(),
                "flip {mask:#x} at byte {i} of {} went unnoticed",
                good.len()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, good.len() * 2);
}

#[test]
fn flipping_bytes_that_change_content_is_detected_without_the_detached_signature() {
    // Without the whole-file signature, a flip is caught whenever it changes what the bundle
    // decodes to (headers, entries, checksum) - the content the installer uses. Count how many
    // flips decode to exactly the signed content (equivalent encodings) and require they are rare.
    let k = keys();
    let good = pristine(&k);
    let mut unnoticed = 0;
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        if verify(&bad, std::slice::from_ref(&k.public)).is_ok() {
            unnoticed += 1;
        }
    }
    assert!(unnoticed * 100 < good.len(), "{unnoticed} of {} flips went unnoticed", good.len());
}

#[test]
fn detached_signature_of_another_file_or_key_is_refused() {
    let (k, other) = (keys(), keys());
    let (good, file_signature) = pristine_signed(&k);
    let (_, foreign) = pristine_signed(&other);
    let err = verify_file(&good, std::slice::from_ref(&k.public), &foreign).unwrap_err();
    assert!(matches!(err, VerifyError::FileSignature(_)), "{err}");
    let wrong_comment = k.secret.sign(&good[..], "airbundle file=x kubernetes=v1.31.2 arch=arm64").unwrap();
    assert!(matches!(verify_file(&good, std::slice::from_ref(&k.public), &wrong_comment), Err(VerifyError::FileCommentMismatch { .. })));
    // The comment must be exactly what airbundle signs: nothing before it, nothing after it.
    let exact = "airbundle file=kubernetes-v1.31.2-linux-amd64.tar.zst kubernetes=v1.31.2 arch=amd64";
    for comment in [format!("unrelated {exact}"), format!("{exact} extra"), "kubernetes=v1.31.2 arch=amd64".to_owned()] {
        let signature = k.secret.sign(&good[..], &comment).unwrap();
        let err = verify_file(&good, std::slice::from_ref(&k.public), &signature).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the bundle file's detached signature (.minisig): trusted comment `{comment}` is not the one airbundle signs (`{exact}`)"
            ),
        );
    }
    verify_file(&good, std::slice::from_ref(&k.public), &file_signature).unwrap();
}

#[test]
fn truncation_anywhere_is_detected() {
    let k = keys();
    let good = pristine(&k);
    for len in (0..good.len()).step_by(97).chain([good.len() - 1, good.len() - 4, 1, 0]) {
        let err = refused(&good[..len], &k);
        assert!(
            matches!(err, VerifyError::Corrupt { .. } | VerifyError::NoManifest(_) | VerifyError::NoSignature(_) | VerifyError::Missing(_)),
            "at {len}: {err}"
        );
    }
}

#[test]
fn data_after_the_archive_is_refused() {
    let k = keys();
    let mut bad = pristine(&k);
    bad.extend_from_slice(b"garbage");
    let err = refused(&bad, &k);
    assert!(matches!(err, VerifyError::AfterFrame), "{err:?}");
    assert_eq!(err.to_string(), "bundle has data after its zstd frame: a bundle is exactly one zstd frame");
}

#[test]
fn signature_by_another_key_names_the_signer() {
    let (k, other) = (keys(), keys());
    let err = refused(&pristine(&other), &k);
    assert!(matches!(err, VerifyError::Signature(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains(&other.public.key_id().to_string()) && text.contains("--trusted-key"), "{text}");
}

#[test]
fn no_trusted_keys_is_refused() {
    let k = keys();
    assert!(matches!(verify(&pristine(&k), &[]), Err(VerifyError::NoTrustedKeys)));
}

fn with_body(k: &crate::Keys, body: Vec<Raw>) -> VerifyError {
    let mut entries = head(k, &manifest_for(&contents()));
    entries.extend(body);
    refused(&craft(&entries), k)
}

#[test]
fn unknown_entry_is_refused_by_name() {
    let k = keys();
    let mut b = body();
    b.push(Raw::file("oci/extra", b"x"));
    let err = with_body(&k, b);
    assert!(matches!(&err, VerifyError::Unknown(p) if p.as_str() == "oci/extra"), "{err}");
}

#[test]
fn missing_entry_is_refused_by_name() {
    let k = keys();
    let mut b = body();
    let gone = b.remove(2);
    let err = with_body(&k, b);
    assert!(matches!(&err, VerifyError::Missing(p) if p.as_str().as_bytes() == gone.name), "{err}");
}

#[test]
fn duplicate_entry_is_refused() {
    let k = keys();
    let mut b = body();
    b.insert(1, Raw::file("configs/kubeadm-config.yaml", b"kind: ClusterConfiguration\n"));
    assert!(matches!(with_body(&k, b), VerifyError::Duplicate(_)));
    let mut b = body();
    b.push(Raw::file(MANIFEST_PATH, b"{}"));
    assert!(matches!(with_body(&k, b), VerifyError::Duplicate(_)));
}

#[test]
fn links_directories_and_devices_are_refused() {
    let k = keys();
    for (kind, link) in [
        (tar::EntryType::Symlink, &b"/etc/passwd"[..]),
        (tar::EntryType::Link, b"oci/oci-layout"),
        (tar::EntryType::Directory, b""),
        (tar::EntryType::Char, b""),
        (tar::EntryType::Fifo, b""),
    ] {
        let mut b = body();
        b[0] = Raw::other(b"configs/kubeadm-config.yaml", kind, vec![], link);
        let err = with_body(&k, b);
        assert!(matches!(err, VerifyError::NotRegular { .. }), "{kind:?}: {err}");
    }
}

#[test]
fn escaping_names_are_refused() {
    let k = keys();
    for name in [&b"../x"[..], b"/etc/x", b"oci/../../x", b"./oci/index.json", b"oci//index.json"] {
        let mut b = body();
        b.insert(0, Raw::other(name, tar::EntryType::Regular, b"x".to_vec(), b""));
        let err = with_body(&k, b);
        assert!(matches!(err, VerifyError::Path(_)), "{}: {err}", String::from_utf8_lossy(name));
        assert!(err.to_string().contains(&*String::from_utf8_lossy(name)), "{err}");
    }
}

#[test]
fn entry_larger_or_smaller_than_declared_is_refused() {
    let k = keys();
    let mut b = body();
    b[0].data.extend_from_slice(b"more");
    assert!(matches!(with_body(&k, b), VerifyError::Size { declared, actual, .. } if actual == declared + 4));
    let mut b = body();
    b[0].data.pop();
    assert!(matches!(with_body(&k, b), VerifyError::Size { .. }));
}

#[test]
fn same_size_other_content_is_refused_by_digest() {
    let k = keys();
    let mut b = body();
    b[0].data[0] ^= 0x20;
    let err = with_body(&k, b);
    assert!(matches!(&err, VerifyError::Digest { path, .. } if path.as_str() == "configs/kubeadm-config.yaml"), "{err}");
}

#[test]
fn manifest_must_come_first_and_signature_second() {
    let k = keys();
    let mut entries = head(&k, &manifest_for(&contents()));
    entries.swap(0, 1);
    assert!(matches!(refused(&craft(&entries), &k), VerifyError::NoManifest(_)));
    let mut entries = head(&k, &manifest_for(&contents()));
    entries.remove(1);
    entries.extend(body());
    assert!(matches!(refused(&craft(&entries), &k), VerifyError::NoSignature(_)));
}

#[test]
fn re_signed_comment_must_match_the_manifest() {
    let k = keys();
    let m = manifest_for(&contents());
    let bytes = m.to_bytes();
    let sig = k.secret.sign(&bytes[..], "airbundle manifest kubernetes=v1.31.2 os=linux arch=arm64 schema=1").unwrap();
    let mut entries = vec![Raw::file(MANIFEST_PATH, &bytes), Raw::file(bundle::manifest::SIGNATURE_PATH, sig.as_bytes())];
    entries.extend(body());
    assert!(matches!(refused(&craft(&entries), &k), VerifyError::CommentMismatch { .. }));
}

#[test]
fn oversized_manifest_is_refused_before_reading_it() {
    let k = keys();
    let entries = vec![Raw { header_size: Some(1 << 30), ..Raw::file(MANIFEST_PATH, b"") }];
    let err = refused(&craft(&entries), &k);
    assert!(
        matches!(&err, VerifyError::TooLarge { path, size, limit } if path == MANIFEST_PATH && *size == 1 << 30 && *limit == MAX_MANIFEST_SIZE),
        "{err:?}"
    );
    // The largest size a ustar header can declare, on the signature entry.
    let mut entries = head(&k, &manifest_for(&contents()));
    entries[1].header_size = Some(0o77777777777);
    let err = refused(&craft(&entries), &k);
    assert_eq!(err.to_string(), "bundle entry `airbundle.json.minisig` is 8589934591 bytes, more than the 4096 allowed");
}

#[test]
fn manifest_alone_is_verified_against_the_trusted_keys() {
    let k = keys();
    let other = keys();
    let bytes = pristine(&k);
    let manifest = bundle::reader::read_manifest_verified(&bytes[..], std::slice::from_ref(&k.public)).unwrap();
    assert_eq!(manifest, manifest_for(&contents()));
    let err = bundle::reader::read_manifest_verified(&bytes[..], std::slice::from_ref(&other.public)).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(_)), "{err}");
    let mut entries = head(&k, &manifest_for(&contents()));
    entries[0].data[20] ^= 1;
    let err = bundle::reader::read_manifest_verified(&craft(&entries)[..], std::slice::from_ref(&k.public)).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(_) | VerifyError::Manifest(_)), "{err}");
}
