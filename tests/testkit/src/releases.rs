//! A loopback HTTP server with the release download layouts the builder reads node binaries
//! from: Kubernetes' `release/VERSION/bin/linux/ARCH/NAME` (+ `.sha256`, `.sha512`), cri-tools'
//! and the CNI plugins' GitHub release archives (+ `.sha256`), packed as upstream packs them,
//! holding the real binaries of the reference toolchain (`tests/reference/build.sh`). The same
//! tree serves `--binaries-dir`. Faults per path: missing, corrupt, cut short, replaced.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The versions a tree holds.
#[derive(Debug, Clone)]
pub struct ReleaseVersions {
    /// Kubernetes (`v1.34.4`).
    pub kubernetes: String,
    /// cri-tools (`v1.34.0`).
    pub crictl: String,
    /// CNI plugins (`v1.7.1`).
    pub cni: String,
}

/// A fault served for one path instead of its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 404.
    Missing,
    /// The file with one byte changed (same length).
    Corrupt,
    /// `Content-Length` of the whole file, then only this many bytes and a closed connection.
    CutAfter(usize),
    /// Other bytes entirely.
    Body(Vec<u8>),
}

/// The running server and its tree.
pub struct ReleaseServer {
    addr: SocketAddr,
    tree: tempfile::TempDir,
    versions: ReleaseVersions,
    faults: Arc<Mutex<BTreeMap<String, Fault>>>,
}

impl ReleaseServer {
    /// Lays out `kubernetes`'s release for linux/`arch` from the reference toolchain (built once
    /// per machine; `arch` must be the host's) and serves it on 127.0.0.1.
    pub fn start(kubernetes: &str, arch: &str) -> Self {
        let bin = crate::reference::toolchain(
            kubernetes,
            &["kubeadm", "kubectl", "kubelet", "crictl", "bridge", "host-local", "loopback", "portmap"],
        );
        let built = crate::reference::versions(&bin);
        let versions = ReleaseVersions {
            kubernetes: kubernetes.to_owned(),
            crictl: built.get("crictl").cloned().expect("build.sh records the crictl version"),
            cni: built.get("cni").cloned().expect("build.sh records the cni version"),
        };
        let tree = tempfile::Builder::new().prefix("airadm-releases-").tempdir().expect("temp dir");
        lay_out(tree.path(), &bin, &versions, arch);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let faults: Arc<Mutex<BTreeMap<String, Fault>>> = Arc::default();
        let (root, f) = (tree.path().to_owned(), faults.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, f) = (root.clone(), f.clone());
                std::thread::spawn(move || serve(stream, &root, &f));
            }
        });
        Self { addr, tree, versions, faults }
    }

    /// `http://127.0.0.1:PORT`, for `--binaries-mirror`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The tree itself, for `--binaries-dir`.
    pub fn dir(&self) -> &Path {
        self.tree.path()
    }

    /// What it serves.
    pub fn versions(&self) -> &ReleaseVersions {
        &self.versions
    }

    /// Serves `fault` for `path` (relative, as in the tree) from now on.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.faults.lock().expect("faults").insert(format!("/{}", path.trim_start_matches('/')), fault);
    }

    /// Serves every file as it is again.
    pub fn clear_faults(&self) {
        self.faults.lock().expect("faults").clear();
    }

    /// Tree paths of the downloads of linux/`arch` (the binary, then the archives).
    pub fn paths(&self, arch: &str) -> ReleasePaths {
        paths(&self.versions, arch)
    }
}

/// Where each download lives in the tree.
#[derive(Debug, Clone)]
pub struct ReleasePaths {
    /// `release/V/bin/linux/ARCH/` (append a name).
    pub kubernetes_dir: String,
    /// The cri-tools archive.
    pub crictl: String,
    /// The CNI plugins archive.
    pub cni: String,
}

fn paths(v: &ReleaseVersions, arch: &str) -> ReleasePaths {
    ReleasePaths {
        kubernetes_dir: format!("release/{}/bin/linux/{arch}/", v.kubernetes),
        crictl: format!("kubernetes-sigs/cri-tools/releases/download/{0}/crictl-{0}-linux-{arch}.tar.gz", v.crictl),
        cni: format!("containernetworking/plugins/releases/download/{0}/cni-plugins-linux-{arch}-{0}.tgz", v.cni),
    }
}

fn hex<D: sha2::Digest>(bytes: &[u8]) -> String {
    hex::encode(D::digest(bytes))
}

fn write(path: &Path, bytes: &[u8]) {
    fs_err::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs_err::write(path, bytes).expect("write");
}

/// dl.k8s.io's checksum files hold the bare digest; GitHub's add two spaces and the file name.
fn lay_out(root: &Path, bin: &Path, v: &ReleaseVersions, arch: &str) {
    let p = paths(v, arch);
    for name in ["kubeadm", "kubectl", "kubelet"] {
        let bytes = fs_err::read(bin.join(name)).expect("reference binary");
        let path = root.join(&p.kubernetes_dir).join(name);
        write(&path, &bytes);
        write(&path.with_file_name(format!("{name}.sha256")), hex::<sha2::Sha256>(&bytes).as_bytes());
        write(&path.with_file_name(format!("{name}.sha512")), hex::<sha2::Sha512>(&bytes).as_bytes());
    }
    // cri-tools: `tar czf` of the one binary, no directory entry.
    let crictl = archive(&[("crictl".to_owned(), fs_err::read(bin.join("crictl")).expect("crictl"), 0o755)], false);
    archive_with_checksum(&root.join(&p.crictl), &crictl);
    // CNI plugins: `tar -C dir -czf … .`: `./`, then every plugin, the licence and the readme.
    let mut members: Vec<(String, Vec<u8>, u32)> = ["bridge", "host-local", "loopback", "portmap"]
        .iter()
        .map(|name| (format!("./{name}"), fs_err::read(bin.join(name)).expect("cni plugin"), 0o755))
        .collect();
    members.push(("./LICENSE".into(), b"Apache License 2.0 (test tree)\n".to_vec(), 0o644));
    members.push(("./README.md".into(), b"CNI plugins (test tree)\n".to_vec(), 0o644));
    archive_with_checksum(&root.join(&p.cni), &archive(&members, true));
}

fn archive_with_checksum(path: &Path, bytes: &[u8]) {
    write(path, bytes);
    let name = path.file_name().expect("name").to_string_lossy().into_owned();
    write(&PathBuf::from(format!("{}.sha256", path.display())), format!("{}  {name}\n", hex::<sha2::Sha256>(bytes)).as_bytes());
}

fn archive(members: &[(String, Vec<u8>, u32)], with_dir: bool) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let header = |size: u64, mode: u32, kind: tar::EntryType| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_uid(1001);
        h.set_gid(127);
        h
    };
    if with_dir {
        let mut h = header(0, 0o755, tar::EntryType::Directory);
        h.as_gnu_mut().expect("gnu header").name[..2].copy_from_slice(b"./");
        h.set_cksum();
        builder.append(&h, std::io::empty()).expect("tar");
    }
    for (name, data, mode) in members {
        // Names as tar(1) writes them (`./bridge`): the tar crate's path setters drop the `./`.
        let mut h = header(data.len() as u64, *mode, tar::EntryType::Regular);
        h.as_gnu_mut().expect("gnu header").name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        builder.append(&h, &data[..]).expect("tar");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

fn serve(mut stream: TcpStream, root: &Path, faults: &Mutex<BTreeMap<String, Fault>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_or(true, |n| n == 0) || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let fault = faults.lock().expect("faults").get(&path).cloned();
    let file = root.join(path.trim_start_matches('/'));
    let body = match fault {
        Some(Fault::Missing) => None,
        Some(Fault::Body(ref bytes)) => Some(bytes.clone()),
        _ if path.contains("..") => None,
        _ => fs_err::File::open(&file).ok().and_then(|mut f| {
            let mut v = Vec::new();
            f.read_to_end(&mut v).ok().map(|_| v)
        }),
    };
    let Some(mut body) = body else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
        return;
    };
    let length = body.len();
    match fault {
        Some(Fault::Corrupt) if !body.is_empty() => {
            let middle = body.len() / 2;
            body[middle] ^= 0xff;
        }
        Some(Fault::CutAfter(n)) => body.truncate(n.min(length)),
        _ => {}
    }
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
    let _ = stream.flush();
}
