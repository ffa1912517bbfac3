//! Test images built byte-for-byte here (deterministic tar + gzip layers, OCI configs, manifests,
//! a multi-arch index) and pushed to a real registry with `skopeo copy --all`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::{Registry, require, run_ok};

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A gzip-compressed layer.
#[derive(Clone)]
pub struct Layer {
    pub gz: Vec<u8>,
    pub diff_id: String,
    pub digest: String,
}

impl Layer {
    /// A layer holding `files` (path, contents, mode), deterministic to the byte.
    pub fn from_files(files: &[(&str, Vec<u8>, u32)]) -> Self {
        Self::from_files_at(files, flate2::Compression::fast())
    }

    /// The same with a chosen gzip level (real images use the default, 6).
    pub fn from_files_at(files: &[(&str, Vec<u8>, u32)], level: flate2::Compression) -> Self {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, data, mode) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            tar.append_data(&mut header, path, &data[..]).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), level);
        gz.write_all(&raw).unwrap();
        let gz = gz.finish().unwrap();
        Self { diff_id: sha256(&raw), digest: sha256(&gz), gz }
    }

    /// A layer of `size` pseudo-random (incompressible) bytes seeded by `seed`.
    pub fn noise(path: &str, seed: &str, size: usize) -> Self {
        Self::from_files(&[(path, noise(seed, size), 0o644)])
    }
}

/// Deterministic pseudo-random bytes (sha256 in counter mode).
pub fn noise(seed: &str, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 32);
    let mut counter = 0u64;
    while out.len() < size {
        out.extend_from_slice(&Sha256::digest(format!("{seed}/{counter}").as_bytes()));
        counter += 1;
    }
    out.truncate(size);
    out
}

/// An image with one layer list per architecture.
pub struct TestImage {
    /// Repository path in the registry (`kube-apiserver`, `coredns/coredns`).
    pub repository: String,
    pub tag: String,
    pub platforms: Vec<(String, Vec<Layer>)>,
    /// Push as Docker manifest list + schema 2 instead of OCI.
    pub docker_format: bool,
}

/// What the registry holds after a push.
#[derive(Debug, Clone)]
pub struct PushedImage {
    pub repository: String,
    pub tag: String,
    pub index_digest: String,
    /// Platform manifest digest per architecture.
    pub manifests: BTreeMap<String, String>,
    /// Config + layer digests per architecture.
    pub blobs: BTreeMap<String, Vec<String>>,
}

impl TestImage {
    /// Writes an OCI image layout for this image into `dir`.
    pub fn write_layout(&self, dir: &Path) {
        let blobs = dir.join("blobs/sha256");
        fs_err::create_dir_all(&blobs).unwrap();
        let put = |bytes: &[u8]| {
            let digest = sha256(bytes);
            fs_err::write(blobs.join(&digest[7..]), bytes).unwrap();
            digest
        };
        let mut entries = Vec::new();
        for (arch, layers) in &self.platforms {
            for layer in layers {
                put(&layer.gz);
            }
            let config = serde_json::to_vec(&json!({
                "architecture": arch, "os": "linux",
                "config": {"Cmd": ["/bin/busybox", "cat", "/hello.txt"]},
                "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
            }))
            .unwrap();
            let config_digest = put(&config);
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
                "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.digest, "size": l.gz.len()})).collect::<Vec<_>>(),
            }))
            .unwrap();
            let manifest_digest = put(&manifest);
            entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest.len(), "platform": {"architecture": arch, "os": "linux"}}));
        }
        let index =
            serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}))
                .unwrap();
        let index_digest = put(&index);
        fs_err::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": self.tag}}]});
        fs_err::write(dir.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    }

    /// Pushes every platform to `addr` with skopeo and reads back what the registry holds.
    pub fn push(&self, addr: &str) -> PushedImage {
        self.push_as(addr, None)
    }

    /// The same with `user:pass` credentials.
    pub fn push_as(&self, addr: &str, creds: Option<&str>) -> PushedImage {
        let skopeo = require("skopeo", "skopeo");
        let dir = tempfile::tempdir().unwrap();
        self.write_layout(dir.path());
        let dest = format!("docker://{addr}/{}:{}", self.repository, self.tag);
        let mut cmd = Command::new(&skopeo);
        cmd.args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
        if self.docker_format {
            cmd.args(["--format", "v2s2"]);
        }
        if let Some(creds) = creds {
            cmd.args(["--dest-creds", creds]);
        }
        run_ok(cmd.arg(format!("oci:{}:{}", dir.path().display(), self.tag)).arg(&dest));
        inspect_pushed(addr, &self.repository, &self.tag, creds)
    }
}

/// Reads an image's index and per-platform manifests back from the registry.
pub fn inspect_pushed(addr: &str, repository: &str, tag: &str, creds: Option<&str>) -> PushedImage {
    let skopeo = require("skopeo", "skopeo");
    let raw = |reference: &str| {
        let mut cmd = Command::new(&skopeo);
        cmd.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some(creds) = creds {
            cmd.args(["--creds", creds]);
        }
        run_ok(cmd.arg(format!("docker://{addr}/{repository}{reference}")))
    };
    let index = raw(&format!(":{tag}"));
    let parsed: serde_json::Value = serde_json::from_str(&index).unwrap();
    let mut manifests = BTreeMap::new();
    let mut blobs = BTreeMap::new();
    for entry in parsed["manifests"].as_array().unwrap() {
        let arch = entry["platform"]["architecture"].as_str().unwrap().to_owned();
        let digest = entry["digest"].as_str().unwrap().to_owned();
        let manifest: serde_json::Value = serde_json::from_str(&raw(&format!("@{digest}"))).unwrap();
        let mut list = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
        list.extend(manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
        blobs.insert(arch.clone(), list);
        manifests.insert(arch, digest);
    }
    PushedImage { repository: repository.into(), tag: tag.into(), index_digest: sha256(index.as_bytes()), manifests, blobs }
}

/// The v1.31.2 catalog images as the registry paths and tags of kubeadm's image list.
pub const CATALOG_V1_31_2: &[(&str, &str)] = &[
    ("kube-apiserver", "v1.31.2"),
    ("kube-controller-manager", "v1.31.2"),
    ("kube-scheduler", "v1.31.2"),
    ("kube-proxy", "v1.31.2"),
    ("coredns/coredns", "v1.11.3"),
    ("pause", "3.10"),
    ("etcd", "3.5.15-0"),
];

/// The seven images kubeadm v1.34.4 lists (`kubeadm config images list`), as above.
pub const CATALOG_V1_34_4: &[(&str, &str)] = &[
    ("kube-apiserver", "v1.34.4"),
    ("kube-controller-manager", "v1.34.4"),
    ("kube-scheduler", "v1.34.4"),
    ("kube-proxy", "v1.34.4"),
    ("coredns/coredns", "v1.12.1"),
    ("pause", "3.10.1"),
    ("etcd", "3.6.5-0"),
];

/// Pushes `images` for amd64 and arm64: one base layer per architecture shared by every image,
/// plus one layer of `unique_size` bytes of its own per image and architecture. `pause` is
/// pushed in Docker format, the rest as OCI.
pub fn seed_catalog(registry: &Registry, images: &[(&str, &str)], unique_size: usize) -> Vec<PushedImage> {
    seed_catalog_at(registry.addr(), images, unique_size)
}

/// [`seed_catalog`] for a registry at `addr` (`host:port`, plain HTTP).
pub fn seed_catalog_at(addr: &str, images: &[(&str, &str)], unique_size: usize) -> Vec<PushedImage> {
    seed_catalog_as(addr, images, unique_size, None)
}

/// [`seed_catalog_at`] pushing with `user:pass` credentials.
pub fn seed_catalog_as(addr: &str, images: &[(&str, &str)], unique_size: usize, creds: Option<&str>) -> Vec<PushedImage> {
    let arches = ["amd64", "arm64"];
    let base: BTreeMap<&str, Layer> = arches
        .iter()
        .map(|arch| {
            (
                *arch,
                Layer::from_files(&[
                    ("hello.txt", format!("hello from {arch}\n").into_bytes(), 0o644),
                    ("base.bin", noise(arch, 50_000), 0o644),
                ]),
            )
        })
        .collect();
    images
        .iter()
        .map(|(repository, tag)| {
            let platforms = arches
                .iter()
                .map(|arch| {
                    (
                        arch.to_string(),
                        vec![
                            base[arch].clone(),
                            Layer::noise(
                                &format!("opt/{}", repository.replace('/', "-")),
                                &format!("{repository}:{tag}/{arch}"),
                                unique_size,
                            ),
                        ],
                    )
                })
                .collect();
            TestImage { repository: (*repository).into(), tag: (*tag).into(), platforms, docker_format: *repository == "pause" }
                .push_as(addr, creds)
        })
        .collect()
}

/// A realistic image set for benchmarks: the v1.31.2 catalog names, linux/amd64, each image a
/// shared base layer (`busybox`) plus one layer of real Go binaries shipped by Debian packages
/// (etcd, containerd, runc, skopeo, docker-registry, podman, kubectl, …), so layers compress
/// like real ones. Each image gets a different slice of `binaries`, marked with its name so no
/// two layers are identical.
pub fn seed_realistic_at(addr: &str, binaries: &[std::path::PathBuf], per_image: usize) -> Vec<PushedImage> {
    let busybox = fs_err::read("/bin/busybox").unwrap_or_else(|_| panic!("/bin/busybox is missing: apt-get install busybox-static"));
    let base = Layer::from_files(&[("bin/busybox", busybox, 0o755)]);
    CATALOG_V1_31_2
        .iter()
        .enumerate()
        .map(|(i, (repository, tag))| {
            let mut files: Vec<(String, Vec<u8>, u32)> = (0..per_image)
                .map(|k| &binaries[(i * per_image + k) % binaries.len()])
                .map(|path| (format!("usr/local/bin/{}", path.file_name().unwrap().to_string_lossy()), fs_err::read(path).unwrap(), 0o755))
                .collect();
            files.push(("etc/image-name".into(), format!("{repository}:{tag}\n").into_bytes(), 0o644));
            let refs: Vec<(&str, Vec<u8>, u32)> = files.iter().map(|(p, d, m)| (p.as_str(), d.clone(), *m)).collect();
            let layer = Layer::from_files_at(&refs, flate2::Compression::default());
            TestImage {
                repository: (*repository).into(),
                tag: (*tag).into(),
                platforms: vec![("amd64".into(), vec![base.clone(), layer])],
                docker_format: false,
            }
            .push(addr)
        })
        .collect()
}
