use super::*;

pub(crate) fn sample() -> Manifest {
    let blob = b"layer";
    let digest = Digest::of(blob);
    Manifest {
        schema_version: SCHEMA_VERSION,
        kubernetes_version: "v1.31.2".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        image_repository: "registry.k8s.io".into(),
        builder: BuilderInfo { name: "airbundle".into(), version: "0.1.0".into() },
        created: "1970-01-01T00:00:00Z".into(),
        images: vec![Image {
            name: "registry.k8s.io/pause:3.10".into(),
            component: "pause".into(),
            digest,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platform: Platform { os: "linux".into(), architecture: "amd64".into(), variant: None },
            index_digest: None,
            oci_index: None,
            config: digest,
            layers: vec![digest],
            size: 15,
        }],
        binaries: vec![],
        entries: vec![Entry { path: crate::oci_layout::blob_path(&digest), size: blob.len() as u64, sha256: digest }],
    }
}

#[test]
fn formats_rfc3339() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

#[test]
fn round_trips_through_bytes() {
    let m = sample();
    assert_eq!(Manifest::from_slice(&m.to_bytes()).unwrap(), m);
}

#[test]
fn rejects_newer_schema_with_upgrade_hint() {
    let mut v: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
    v["schemaVersion"] = 3.into();
    v["someFutureField"] = true.into();
    let err = Manifest::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(err.to_string().contains("upgrade airadm"), "{err}");
}

#[test]
fn reads_schema_1_and_refuses_schema_0() {
    let mut v: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
    v["schemaVersion"] = 1.into();
    assert_eq!(Manifest::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap().schema_version, 1);
    v["schemaVersion"] = 0.into();
    assert!(matches!(Manifest::from_slice(&serde_json::to_vec(&v).unwrap()), Err(ManifestError::UnsupportedSchema(0))));
}

fn with_binary(m: &mut Manifest, name: &str, contents: &[u8]) {
    let path = Binary::entry_path(BinaryKind::Kubernetes, name).unwrap();
    let sha256 = Digest::of(contents);
    m.entries.push(Entry { path: path.clone(), size: contents.len() as u64, sha256 });
    m.entries.sort_by(|a, b| a.path.cmp(&b.path));
    m.binaries.push(Binary {
        name: name.into(),
        kind: BinaryKind::Kubernetes,
        version: Some("v1.31.2".into()),
        os: "linux".into(),
        arch: "amd64".into(),
        path,
        sha256,
        source: None,
    });
}

#[test]
fn binaries_round_trip_and_must_match_their_entries() {
    let mut m = sample();
    with_binary(&mut m, "kubelet", b"ELF");
    assert_eq!(Manifest::from_slice(&m.to_bytes()).unwrap(), m);
    let mut wrong = m.clone();
    wrong.binaries[0].sha256 = Digest::of(b"other");
    assert!(wrong.check().unwrap_err().to_string().contains("binary `kubelet` has another sha256"));
    let mut wrong = m.clone();
    wrong.binaries[0].arch = "arm64".into();
    assert!(wrong.check().unwrap_err().to_string().contains("is for linux/arm64"));
    let mut wrong = m.clone();
    wrong.binaries[0].kind = BinaryKind::CniPlugin;
    assert!(wrong.check().unwrap_err().to_string().contains("not `cni/bin/kubelet`"));
    let mut wrong = m.clone();
    wrong.binaries.push(wrong.binaries[0].clone());
    assert!(wrong.check().unwrap_err().to_string().contains("listed twice"));
    let mut wrong = m.clone();
    wrong.schema_version = 1;
    assert!(wrong.check().unwrap_err().to_string().contains("schema 1 manifest"));
    let mut wrong = m;
    wrong.entries.retain(|e| e.path.as_str() != "bin/kubelet");
    assert!(wrong.check().unwrap_err().to_string().contains("has no entry `bin/kubelet`"));
}

#[test]
fn rejects_unknown_fields() {
    let mut v: serde_json::Value = serde_json::from_slice(&sample().to_bytes()).unwrap();
    v["extra"] = 1.into();
    assert!(matches!(Manifest::from_slice(&serde_json::to_vec(&v).unwrap()), Err(ManifestError::Parse(_))));
}

#[test]
fn rejects_unsorted_duplicate_and_reserved_entries() {
    let mut m = sample();
    m.entries.push(m.entries[0].clone());
    assert!(matches!(m.check(), Err(ManifestError::EntryOrder(_))));
    let mut m = sample();
    m.entries.insert(0, Entry { path: EntryPath::new(MANIFEST_PATH).unwrap(), size: 0, sha256: Digest::of(b"") });
    assert!(matches!(m.check(), Err(ManifestError::EntryOrder(_))));
}

#[test]
fn rejects_blob_named_after_another_digest() {
    let mut m = sample();
    m.entries[0].sha256 = Digest::of(b"other");
    assert!(matches!(m.check(), Err(ManifestError::BlobName(_))));
}

#[test]
fn rejects_image_whose_blob_is_absent() {
    let mut m = sample();
    m.images[0].layers.push(Digest::of(b"absent"));
    assert!(matches!(m.check(), Err(ManifestError::MissingBlob { .. })));
}
