//! Kubernetes' own images, made here from the reference binaries (`tests/reference/build.sh`):
//! one OCI image layout per release, built once per machine next to the binaries, with
//! upstream's names (the ones real kubeadm of that release lists), paths and entrypoints, for
//! linux/amd64 only (arm64 would double the reference build):
//!
//! | image | files | as upstream |
//! |---|---|---|
//! | kube-apiserver, -controller-manager, -scheduler | `/usr/local/bin/NAME` on a base layer | `build/server-image/Dockerfile` on go-runner, whose `/go-runner` entrypoint is left out: kubeadm's static Pods give `command` |
//! | kube-proxy | the same, plus Debian's iptables/ip6tables (legacy and nft), `nft`, their libraries and xtables modules | on distroless-iptables |
//! | etcd | `/usr/local/bin/etcd`, `/usr/local/bin/etcdctl` | |
//! | coredns/coredns | `/coredns`, entrypoint `/coredns` | |
//! | pause | `/pause`, entrypoint `/pause`, user 65535 | `build/pause/Dockerfile` (FROM scratch) |
//!
//! The base layer (`/etc/passwd`, `/etc/group`, `/etc/nsswitch.conf`, `/tmp`) stands in for
//! distroless static. Every layer is a deterministic tar (sorted, mtime 0, root-owned), gzipped.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::image::{PushedImage, inspect_pushed};
use crate::{reference, require, run_ok};

/// Bump when what goes into the images changes: the cached layout is rebuilt.
const RECIPE: u32 = 3;
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A release's images in one OCI image layout.
pub struct Layout {
    pub dir: PathBuf,
    /// `(repository, tag)` as kubeadm lists them (`kube-apiserver`, `v1.34.4`), in its order.
    pub images: Vec<(String, String)>,
}

impl Layout {
    /// The layout's `org.opencontainers.image.ref.name` of an image.
    pub fn ref_name(repository: &str, tag: &str) -> String {
        format!("{}_{tag}", repository.replace('/', "-"))
    }

    /// Pushes every image to the plain-HTTP registry at `addr` under its kubeadm name.
    pub fn push(&self, addr: &str) -> Vec<PushedImage> {
        let skopeo = require("skopeo", "skopeo");
        self.images
            .iter()
            .map(|(repository, tag)| {
                let source = format!("oci:{}:{}", self.dir.display(), Self::ref_name(repository, tag));
                run_ok(
                    Command::new(&skopeo)
                        .args(["copy", "--all", "--quiet", "--dest-tls-verify=false", &source])
                        .arg(format!("docker://{addr}/{repository}:{tag}")),
                );
                inspect_pushed(addr, repository, tag, None)
            })
            .collect()
    }
}

#[derive(PartialEq, Eq)]
enum Item {
    Dir(u32),
    File(PathBuf, u32),
    /// A small file written from the test's own text, mode 0644.
    Text(String),
    Link(String),
}

type Tree = BTreeMap<String, Item>;

/// Builds (once per machine) and returns the images of Kubernetes `version`.
pub fn layout(version: &str) -> Layout {
    let bin = reference::toolchain(
        version,
        &["kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "etcdctl", "coredns", "pause"],
    );
    let listed = run_ok(Command::new(bin.join("kubeadm")).args(["config", "images", "list", "--kubernetes-version", version]));
    let images: Vec<(String, String)> = listed
        .lines()
        .map(|l| {
            let (repository, tag) =
                l.trim().strip_prefix("registry.k8s.io/").expect("kubeadm lists registry.k8s.io").rsplit_once(':').unwrap();
            (repository.to_owned(), tag.to_owned())
        })
        .collect();
    let trees: Vec<(&(String, String), Vec<Tree>, serde_json::Value)> = images
        .iter()
        .map(|image| {
            let (layers, config) = recipe(&image.0, &bin);
            (image, layers, config)
        })
        .collect();
    // The cache key: the recipe and every input file's size and modification time.
    let mut key = Sha256::new();
    key.update(format!("{RECIPE} {listed}"));
    for (_, layers, config) in &trees {
        key.update(config.to_string());
        for (path, item) in layers.iter().flatten() {
            let stamp = match item {
                Item::File(src, mode) => {
                    let meta = fs_err::metadata(src).unwrap();
                    format!("{src:?} {} {:?} {mode}", meta.len(), meta.modified().unwrap())
                }
                Item::Dir(mode) => format!("dir {mode}"),
                Item::Text(text) => format!("text {text:?}"),
                Item::Link(to) => format!("link {to}"),
            };
            key.update(format!("{path} {stamp}\n"));
        }
    }
    let cache = bin.parent().unwrap();
    let dir = cache.join(format!("images-{}", &hex::encode(key.finalize())[..16]));
    // One writer at a time, across the tests' threads and processes.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let lock = fs_err::File::create(cache.join(".images.lock")).unwrap();
    lock.file().lock().unwrap();
    if !dir.join("index.json").is_file() {
        let tmp = cache.join(format!("images.tmp-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&tmp);
        write_layout(&tmp, &trees);
        for old in fs_err::read_dir(cache).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("images-")) {
            let _ = fs_err::remove_dir_all(old.path());
        }
        fs_err::rename(&tmp, &dir).unwrap();
    }
    Layout { dir, images }
}

/// The layers (bottom first) and the config of one image.
fn recipe(repository: &str, bin: &Path) -> (Vec<Tree>, serde_json::Value) {
    let file = |name: &str| Item::File(bin.join(name), 0o755);
    let one = |path: &str, item: Item| -> Tree { with_parents([(path.to_owned(), item)].into_iter().collect()) };
    let config = |entrypoint: &str, user: &str| json!({"Env": [PATH_ENV], "Entrypoint": [entrypoint], "User": user, "WorkingDir": "/"});
    match repository {
        "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" => (
            vec![base(), one(&format!("usr/local/bin/{repository}"), file(repository))],
            config(&format!("/usr/local/bin/{repository}"), "0"),
        ),
        "kube-proxy" => {
            (vec![base(), iptables(), one("usr/local/bin/kube-proxy", file("kube-proxy"))], config("/usr/local/bin/kube-proxy", "0"))
        }
        "etcd" => {
            let tree = [("usr/local/bin/etcd", file("etcd")), ("usr/local/bin/etcdctl", file("etcdctl"))];
            (vec![base(), with_parents(tree.into_iter().map(|(p, i)| (p.to_owned(), i)).collect())], config("/usr/local/bin/etcd", "0"))
        }
        "coredns/coredns" => (vec![base(), one("coredns", file("coredns"))], config("/coredns", "0")),
        "pause" => (vec![one("pause", file("pause"))], config("/pause", "65535:65535")),
        other => panic!("kubeadm lists an image testkit::kubeimages has no recipe for: {other}"),
    }
}

fn base() -> Tree {
    let passwd = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
    let group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";
    let mut tree = Tree::new();
    for (path, text) in [("etc/passwd", passwd), ("etc/group", group), ("etc/nsswitch.conf", "hosts: files dns\n")] {
        tree.insert(path.into(), Item::Text(text.into()));
    }
    tree.insert("tmp".into(), Item::Dir(0o1777));
    tree.insert("root".into(), Item::Dir(0o700));
    with_parents(tree)
}

/// Debian's iptables (both back ends, `iptables` itself on nft as Debian's default), `nft`, with every shared library `ldd` names and the xtables extension modules.
fn iptables() -> Tree {
    let mut tree = Tree::new();
    // What ldd is asked about: the programs and the modules they load.
    let mut objects = Vec::new();
    for multi in ["xtables-legacy-multi", "xtables-nft-multi"] {
        let path = require(multi, "iptables");
        tree.insert(format!("usr/sbin/{multi}"), Item::File(path.clone(), 0o755));
        objects.push(path);
        let backend = multi.trim_start_matches("xtables-").trim_end_matches("-multi");
        for family in ["iptables", "ip6tables"] {
            for suffix in ["", "-save", "-restore"] {
                tree.insert(format!("usr/sbin/{family}-{backend}{suffix}"), Item::Link(multi.into()));
                if backend == "nft" {
                    tree.insert(format!("usr/sbin/{family}{suffix}"), Item::Link(multi.into()));
                }
            }
        }
    }
    let nft = require("nft", "nftables");
    tree.insert("usr/sbin/nft".into(), Item::File(nft.clone(), 0o755));
    objects.push(nft);
    // The xtables modules are dlopen()ed, so ldd of the programs does not name what they need
    // (libxt_statistic.so needs libm; kube-proxy's rules use it once a Service has two endpoints).
    let modules = Path::new("/usr/lib/x86_64-linux-gnu/xtables");
    for entry in fs_err::read_dir(modules).unwrap() {
        let path = entry.unwrap().path();
        let inside = path.strip_prefix("/").unwrap().to_string_lossy().into_owned();
        tree.insert(inside, Item::File(fs_err::canonicalize(&path).unwrap(), 0o644));
        objects.push(path);
    }
    // One ldd for all: each object's name is a line of its own, its libraries the tab-indented
    // lines below it.
    let out = run_ok(Command::new("ldd").args(&objects));
    for lib in out.lines().filter(|l| l.starts_with('\t')).filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/'))) {
        // With the host's mode: the dynamic loader must be executable.
        let real = fs_err::canonicalize(lib).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(&real).unwrap().permissions()) & 0o7777;
        tree.insert(lib.trim_start_matches('/').to_owned(), Item::File(real, mode));
    }
    with_parents(tree)
}

/// `tree` with a directory entry for every parent of its paths.
fn with_parents(mut tree: Tree) -> Tree {
    let parents: Vec<String> = tree.keys().flat_map(|p| p.match_indices('/').map(|(i, _)| p[..i].to_owned()).collect::<Vec<_>>()).collect();
    for dir in parents {
        tree.entry(dir).or_insert(Item::Dir(0o755));
    }
    tree
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn digest(hash: Sha256) -> String {
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// Streams one layer into `blobs`; returns (digest, size, diffID).
fn write_layer(blobs: &Path, tree: &Tree) -> (String, u64, String) {
    let tmp = tempfile::NamedTempFile::new_in(blobs).unwrap();
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Hashing { inner: tmp.reopen().unwrap(), hash: Sha256::new(), len: 0 }, flate2::Compression::default());
    let mut tar = tar::Builder::new(Hashing { inner: gz, hash: Sha256::new(), len: 0 });
    for (path, item) in tree {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match item {
            Item::Dir(mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                tar.append_data(&mut header, format!("{path}/"), std::io::empty()).unwrap();
            }
            Item::File(src, mode) => {
                header.set_mode(*mode);
                header.set_size(fs_err::metadata(src).unwrap().len());
                tar.append_data(&mut header, path, fs_err::File::open(src).unwrap()).unwrap();
            }
            Item::Text(text) => {
                header.set_mode(0o644);
                header.set_size(text.len() as u64);
                tar.append_data(&mut header, path, text.as_bytes()).unwrap();
            }
            Item::Link(to) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, path, to).unwrap();
            }
        }
    }
    let raw = tar.into_inner().unwrap();
    let diff_id = digest(raw.hash);
    let compressed = raw.inner.finish().unwrap();
    let (layer_digest, size) = (digest(compressed.hash), compressed.len);
    tmp.persist(blobs.join(&layer_digest[7..])).unwrap();
    (layer_digest, size, diff_id)
}

fn write_layout(dir: &Path, images: &[(&(String, String), Vec<Tree>, serde_json::Value)]) {
    let blobs = dir.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = crate::image::sha256(bytes);
        fs_err::write(blobs.join(&digest[7..]), bytes).unwrap();
        (digest, bytes.len())
    };
    // Every distinct layer once, compressed in parallel.
    let mut distinct: Vec<&Tree> = Vec::new();
    for tree in images.iter().flat_map(|(_, layers, _)| layers) {
        if !distinct.contains(&tree) {
            distinct.push(tree);
        }
    }
    let written: Vec<(String, u64, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = distinct.iter().map(|tree| s.spawn(|| write_layer(&blobs, tree))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut top = Vec::new();
    for ((repository, tag), layers, config) in images {
        let layers: Vec<&(String, u64, String)> = layers.iter().map(|t| &written[distinct.iter().position(|d| *d == t).unwrap()]).collect();
        let diff_ids: Vec<&String> = layers.iter().map(|l| &l.2).collect();
        let image_config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let (config_digest, config_size) = put(&image_config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.0, "size": l.1})).collect::<Vec<_>>(),
        }))
        .unwrap();
        let (manifest_digest, manifest_size) = put(&manifest);
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size, "platform": {"architecture": "amd64", "os": "linux"}},
        ]}))
        .unwrap();
        let (index_digest, index_size) = put(&index);
        top.push(json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index_size,
            "annotations": {"org.opencontainers.image.ref.name": Layout::ref_name(repository, tag)}}));
    }
    fs_err::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs_err::write(dir.join("index.json"), serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": top})).unwrap()).unwrap();
}
