//! The verifying reader against hand-crafted bundles: every mutation is refused, naming what
//! was wrong; the pristine bundle verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod crafted;
mod tamper;
mod writer;

use std::io::{Read, Write};

use bundle::manifest::{BuilderInfo, MANIFEST_PATH, SCHEMA_VERSION, SIGNATURE_PATH};
use bundle::signature::generate_key_pair;
use bundle::{Digest, Entry, EntryPath, EntrySource, Manifest, PublicKey, SigningKey, VerifyError, WriterOptions};
pub use testkit::rawtar::Raw;

/// A key pair for tests.
pub struct Keys {
    pub secret: SigningKey,
    pub public: PublicKey,
}

pub fn keys() -> Keys {
    let pair = generate_key_pair(None, "test").unwrap();
    Keys {
        secret: SigningKey::from_text(&pair.secret, None, "test.key").unwrap(),
        public: PublicKey::from_text(&pair.public, "test.pub").unwrap(),
    }
}

/// Contents of the sample bundle: a small config, and a larger incompressible blob.
pub fn contents() -> Vec<(String, Vec<u8>)> {
    let blob = (0..60_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>();
    let digest = Digest::of(&blob);
    let mut v = vec![
        ("configs/kubeadm-config.yaml".to_owned(), b"kind: ClusterConfiguration\n".to_vec()),
        (format!("oci/blobs/sha256/{}", digest.hex()), blob),
        ("oci/index.json".to_owned(), br#"{"manifests":[]}"#.to_vec()),
        ("oci/oci-layout".to_owned(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    ];
    v.sort();
    v
}

pub fn manifest_for(files: &[(String, Vec<u8>)]) -> Manifest {
    Manifest {
        schema_version: SCHEMA_VERSION,
        kubernetes_version: "v1.31.2".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        image_repository: "registry.k8s.io".into(),
        builder: BuilderInfo { name: "airbundle".into(), version: "test".into() },
        created: "1970-01-01T00:00:00Z".into(),
        images: vec![],
        binaries: vec![],
        entries: files
            .iter()
            .map(|(p, d)| Entry { path: EntryPath::new(p).unwrap(), size: d.len() as u64, sha256: Digest::of(d) })
            .collect(),
    }
}

pub struct MemorySource(pub Vec<(String, Vec<u8>)>);

impl EntrySource for MemorySource {
    fn open(&mut self, entry: &Entry) -> std::io::Result<Box<dyn Read + '_>> {
        let (_, data) = self.0.iter().find(|(p, _)| p == entry.path.as_str()).unwrap();
        Ok(Box::new(&data[..]))
    }
}

/// A valid bundle written by the real writer.
pub fn pristine(keys: &Keys) -> Vec<u8> {
    pristine_signed(keys).0
}

/// A valid bundle and its detached whole-file signature.
pub fn pristine_signed(keys: &Keys) -> (Vec<u8>, String) {
    let files = contents();
    let manifest = manifest_for(&files);
    let signature = keys.secret.sign(&manifest.to_bytes()[..], &manifest.trusted_comment()).unwrap();
    let options = WriterOptions { level: 3, workers: 1, mtime: 0 };
    let (out, prehash) = bundle::write_bundle(Vec::new(), options, &manifest, &signature, &mut MemorySource(files)).unwrap();
    let file_signature =
        keys.secret.sign_prehashed(&prehash, "airbundle file=kubernetes-v1.31.2-linux-amd64.tar.zst kubernetes=v1.31.2 arch=amd64");
    (out, file_signature)
}

/// Manifest + its signature as the first two raw entries, for `manifest`.
pub fn head(keys: &Keys, manifest: &Manifest) -> Vec<Raw> {
    let bytes = manifest.to_bytes();
    let signature = keys.secret.sign(&bytes[..], &manifest.trusted_comment()).unwrap();
    vec![Raw::file(MANIFEST_PATH, &bytes), Raw::file(SIGNATURE_PATH, signature.as_bytes())]
}

/// The pristine entries as raw entries.
pub fn body() -> Vec<Raw> {
    contents().iter().map(|(p, d)| Raw::file(p, d)).collect()
}

/// A zstd-compressed tar of `entries`, with the canonical frame header.
pub fn craft(entries: &[Raw]) -> Vec<u8> {
    let mut enc = bundle::writer::new_encoder(Vec::new(), 3, 1).unwrap();
    enc.write_all(&testkit::rawtar::write(entries)).unwrap();
    enc.finish().unwrap()
}

/// Verifies `bytes` against `keys`.
pub fn verify(bytes: &[u8], keys: &[PublicKey]) -> Result<bundle::Verified, VerifyError> {
    bundle::verify_stream(bytes, keys, None, &mut bundle::Discard)
}

/// Verifies `bytes` and their detached signature.
pub fn verify_file(bytes: &[u8], keys: &[PublicKey], file_signature: &str) -> Result<bundle::Verified, VerifyError> {
    bundle::verify_stream(bytes, keys, Some(file_signature), &mut bundle::Discard)
}
