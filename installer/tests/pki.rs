//! The `certs` and `kubeconfig` phases against the real tools: `openssl` verifies every chain and
//! reads the fields, a real etcd (Debian's /usr/bin/etcd) serves with the generated etcd
//! certificates and `etcdctl` talks to it with the generated client certificates, `kubectl` loads
//! every kubeconfig. Missing tools fail the test with the package to install.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed step is a failed test

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use installer::kubeadm::config::{self, ComponentImages, Documents, HostFacts, InitFlags, Version};
use installer::kubeadm::files::Root;
use installer::kubeadm::{InitConfig, certs, kubeconfig};

const PKI: &str = "etc/kubernetes/pki";

/// A generated tree under a temp root.
struct Tree {
    dir: tempfile::TempDir,
    root: Root,
    cfg: InitConfig,
}

impl Tree {
    /// Generates the tree and reports how long it took (timings are the benchmark's business,
    /// `tests/bench/init.sh`: a limit here would fail on a loaded machine, not on slow code).
    fn generate(cfg: InitConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let started = Instant::now();
        certs::run(&cfg, &root, "all", SystemTime::now()).unwrap();
        kubeconfig::run(&cfg, &root, "all", SystemTime::now()).unwrap();
        let elapsed = started.elapsed();
        report_timing(cfg.encryption_algorithm.name(), elapsed);
        Self { dir, root, cfg }
    }

    fn pki(&self, file: &str) -> PathBuf {
        self.dir.path().join(PKI).join(file)
    }

    fn kubeconfig(&self, file: &str) -> PathBuf {
        self.dir.path().join("etc/kubernetes").join(file)
    }

    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
        let mut files = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs_err::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
                    files.push((path.clone(), fs_err::read(&path).unwrap(), mode));
                }
            }
        }
        files.sort();
        files
    }
}

#[allow(clippy::print_stderr)]
fn report_timing(algorithm: &str, elapsed: Duration) {
    eprintln!("{algorithm}: certs + kubeconfig generated in {elapsed:?}");
}

fn resolve(yaml: Option<&str>, flags: InitFlags) -> InitConfig {
    let docs = match yaml {
        Some(yaml) => config::parse_documents(yaml, "test.yaml").unwrap(),
        None => Documents::default(),
    };
    let host = HostFacts { hostname: "node-1".into(), default_address: Some("10.0.0.5".parse().unwrap()), cri_socket: None };
    config::resolve(docs, &flags, &host, &Version::parse("v1.31.2").unwrap(), ComponentImages::default()).unwrap()
}

fn tool(program: &str, package: &str, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program} ({e}): install the `{package}` package"))
}

fn openssl(args: &[&str]) -> String {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let out = tool("openssl", "openssl", &args);
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `openssl verify` of every leaf against its CA, and the kubeconfig client certificates.
fn verify_chains(tree: &Tree, with_etcd: bool) {
    let mut chains =
        vec![("ca.crt", "apiserver.crt"), ("ca.crt", "apiserver-kubelet-client.crt"), ("front-proxy-ca.crt", "front-proxy-client.crt")];
    if with_etcd {
        for leaf in ["etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt", "apiserver-etcd-client.crt"] {
            chains.push(("etcd/ca.crt", leaf));
        }
    }
    for (ca, leaf) in chains {
        let out = openssl(&["verify", "-CAfile", path_str(&tree.pki(ca)), path_str(&tree.pki(leaf))]);
        assert_eq!(out.trim(), format!("{}: OK", tree.pki(leaf).display()));
    }
    let wrong = Command::new("openssl")
        .args(["verify", "-CAfile", path_str(&tree.pki("etcd/ca.crt")), path_str(&tree.pki("apiserver.crt"))])
        .output()
        .unwrap();
    assert!(!wrong.status.success(), "apiserver.crt must not verify against etcd/ca.crt");
    for file in ["admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf"] {
        let cert = tree.dir.path().join(format!("{file}.crt"));
        fs_err::write(&cert, kubectl_raw(tree, file, "{.users[0].user.client-certificate-data}", true)).unwrap();
        let out = openssl(&["verify", "-CAfile", path_str(&tree.pki("ca.crt")), path_str(&cert)]);
        assert!(out.trim().ends_with(": OK"), "{file}: {out}");
        fs_err::remove_file(cert).unwrap();
    }
}

fn text(tree: &Tree, file: &str) -> String {
    openssl(&["x509", "-noout", "-text", "-in", path_str(&tree.pki(file))])
}

fn assert_contains(haystack: &str, needle: &str, what: &str) {
    assert!(haystack.contains(needle), "{what}: `{needle}` not in\n{haystack}");
}

fn check_fields(tree: &Tree, apiserver_sans: &str, etcd_server_sans: &str) {
    let ca = text(tree, "ca.crt");
    assert_contains(&ca, "Subject: CN = kubernetes\n", "ca");
    assert_contains(&ca, "CA:TRUE", "ca");
    assert_contains(&ca, "Digital Signature, Key Encipherment, Certificate Sign", "ca");
    assert_contains(&ca, "DNS:kubernetes\n", "ca");
    let apiserver = text(tree, "apiserver.crt");
    assert_contains(&apiserver, "Issuer: CN = kubernetes\n", "apiserver");
    assert_contains(&apiserver, "Subject: CN = kube-apiserver\n", "apiserver");
    assert_contains(&apiserver, "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment\n", "apiserver");
    assert_contains(&apiserver, "X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n", "apiserver");
    assert_contains(&apiserver, "X509v3 Basic Constraints: critical\n                CA:FALSE\n", "apiserver");
    assert_contains(&apiserver, &format!("X509v3 Subject Alternative Name: \n                {apiserver_sans}\n"), "apiserver");
    assert!(!apiserver.contains("Subject Key Identifier"), "leaves carry no SKI, as Go writes them");
    let kubelet_client = text(tree, "apiserver-kubelet-client.crt");
    assert_contains(&kubelet_client, "Subject: O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client\n", "kubelet client");
    assert_contains(&kubelet_client, "TLS Web Client Authentication\n", "kubelet client");
    assert_contains(&text(tree, "front-proxy-client.crt"), "Issuer: CN = front-proxy-ca\n", "front-proxy-client");
    if tree.cfg.local_etcd().is_some() {
        let server = text(tree, "etcd/server.crt");
        assert_contains(&server, "Subject: CN = node-1\n", "etcd server");
        assert_contains(&server, "TLS Web Server Authentication, TLS Web Client Authentication\n", "etcd server");
        assert_contains(&server, &format!("X509v3 Subject Alternative Name: \n                {etcd_server_sans}\n"), "etcd server");
        assert_contains(&text(tree, "etcd/healthcheck-client.crt"), "Subject: CN = kube-etcd-healthcheck-client\n", "healthcheck");
        assert_contains(&text(tree, "apiserver-etcd-client.crt"), "Subject: CN = kube-apiserver-etcd-client\n", "etcd client");
    }
    for (file, days) in [("ca.crt", 3650), ("apiserver.crt", 365)] {
        let dates = openssl(&["x509", "-noout", "-startdate", "-enddate", "-in", path_str(&tree.pki(file))]);
        let check = Command::new("openssl")
            .args(["x509", "-noout", "-checkend", &((days - 1) * 86400).to_string(), "-in", path_str(&tree.pki(file))])
            .output()
            .unwrap();
        assert!(check.status.success(), "{file} should be valid for {days} days: {dates}");
        let past = Command::new("openssl")
            .args(["x509", "-noout", "-checkend", &((days + 1) * 86400).to_string(), "-in", path_str(&tree.pki(file))])
            .output()
            .unwrap();
        assert!(!past.status.success(), "{file} should expire after {days} days: {dates}");
    }
}

fn check_keys_and_modes(tree: &Tree, key_header: &str) {
    for entry in tree.snapshot() {
        let (path, bytes, mode) = entry;
        let name = path.file_name().unwrap().to_str().unwrap();
        let expected = if name.ends_with(".crt") { 0o644 } else { 0o600 };
        assert_eq!(mode, expected, "{}", path.display());
        if name.ends_with(".key") && name != "sa.key" {
            assert!(bytes.starts_with(key_header.as_bytes()), "{}", path.display());
            openssl(&["pkey", "-noout", "-in", path_str(&path)]);
        }
    }
    let sa_pub = openssl(&["pkey", "-pubin", "-in", path_str(&tree.pki("sa.pub"))]);
    let sa_derived = openssl(&["pkey", "-pubout", "-in", path_str(&tree.pki("sa.key"))]);
    assert_eq!(sa_pub, sa_derived, "sa.pub is sa.key's public key");
}

fn kubectl_raw(tree: &Tree, file: &str, jsonpath: &str, decode: bool) -> Vec<u8> {
    let path = tree.kubeconfig(file);
    let template = format!("jsonpath={jsonpath}");
    let args = ["config", "view", "--raw", "--kubeconfig", path_str(&path), "-o", template.as_str()];
    let out = tool("kubectl", "kubectl", &args.map(std::ffi::OsStr::new));
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    if decode {
        let text = String::from_utf8(out.stdout).unwrap();
        certs::pki::base64_decode(&text).unwrap()
    } else {
        out.stdout
    }
}

fn check_kubeconfigs(tree: &Tree, control_plane: &str, local: &str) {
    let expected = [
        ("admin.conf", "kubernetes-admin", control_plane),
        ("super-admin.conf", "kubernetes-super-admin", control_plane),
        ("kubelet.conf", "system:node:node-1", control_plane),
        ("controller-manager.conf", "system:kube-controller-manager", local),
        ("scheduler.conf", "system:kube-scheduler", local),
    ];
    for (file, user, server) in expected {
        let path = tree.kubeconfig(file);
        let view = tool("kubectl", "kubectl", &["config", "view", "--kubeconfig", path_str(&path)].map(std::ffi::OsStr::new));
        assert!(view.status.success(), "{file}: {}", String::from_utf8_lossy(&view.stderr));
        let view = String::from_utf8(view.stdout).unwrap();
        assert_contains(&view, "client-certificate-data: DATA+OMITTED", file);
        let got = kubectl_raw(
            tree,
            file,
            "{.clusters[0].cluster.server} {.users[0].name} {.current-context} {.contexts[0].context.cluster}",
            false,
        );
        assert_eq!(String::from_utf8(got).unwrap(), format!("{server} {user} {user}@kubernetes kubernetes"), "{file}");
        let ca = kubectl_raw(tree, file, "{.clusters[0].cluster.certificate-authority-data}", true);
        assert_eq!(ca, fs_err::read(tree.pki("ca.crt")).unwrap(), "{file} embeds ca.crt");
    }
}

/// A real etcd on 127.0.0.1 with the generated server and peer certificates; killed on drop.
struct Etcd {
    child: Child,
    client_url: String,
    _data: tempfile::TempDir,
}

impl Etcd {
    fn start(tree: &Tree) -> Self {
        let data = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("https://127.0.0.1:{client}");
        let peer_url = format!("https://127.0.0.1:{peer}");
        let pki = |f: &str| tree.pki(f).into_os_string();
        let child = Command::new("/usr/bin/etcd")
            .args(["--name", "node-1", "--data-dir"])
            .arg(data.path())
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("node-1={peer_url}")])
            .args(["--client-cert-auth", "--peer-client-cert-auth"])
            .arg("--cert-file")
            .arg(pki("etcd/server.crt"))
            .arg("--key-file")
            .arg(pki("etcd/server.key"))
            .arg("--trusted-ca-file")
            .arg(pki("etcd/ca.crt"))
            .arg("--peer-cert-file")
            .arg(pki("etcd/peer.crt"))
            .arg("--peer-key-file")
            .arg(pki("etcd/peer.key"))
            .arg("--peer-trusted-ca-file")
            .arg(pki("etcd/ca.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start /usr/bin/etcd ({e}): install the `etcd-server` package"));
        let etcd = Self { child, client_url, _data: data };
        etcd.wait_ready(tree);
        etcd
    }

    fn wait_ready(&self, tree: &Tree) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.etcdctl(tree, "apiserver-etcd-client", &["endpoint", "health"]);
            if out.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "etcd did not become healthy: {}", String::from_utf8_lossy(&out.stderr));
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `etcdctl` with the client certificate `<base>.crt`/`.key` from the tree.
    fn etcdctl(&self, tree: &Tree, base: &str, args: &[&str]) -> Output {
        self.etcdctl_with(&tree.pki("etcd/ca.crt"), &tree.pki(&format!("{base}.crt")), &tree.pki(&format!("{base}.key")), args)
    }

    fn etcdctl_with(&self, ca: &Path, cert: &Path, key: &Path, args: &[&str]) -> Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_url, "--dial-timeout", "3s", "--command-timeout", "5s", "--cacert"])
            .arg(ca)
            .arg("--cert")
            .arg(cert)
            .arg("--key")
            .arg(key)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run etcdctl ({e}): install the `etcd-client` package"))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn check_etcd(tree: &Tree) {
    let etcd = Etcd::start(tree);
    let put = etcd.etcdctl(tree, "apiserver-etcd-client", &["put", "/registry/airadm", "works"]);
    assert!(put.status.success(), "put: {}", String::from_utf8_lossy(&put.stderr));
    assert_eq!(String::from_utf8_lossy(&put.stdout).trim(), "OK");
    for client in ["apiserver-etcd-client", "etcd/healthcheck-client"] {
        let get = etcd.etcdctl(tree, client, &["get", "/registry/airadm"]);
        assert!(get.status.success(), "{client} get: {}", String::from_utf8_lossy(&get.stderr));
        assert_eq!(String::from_utf8_lossy(&get.stdout), "/registry/airadm\nworks\n", "{client}");
    }
    // A client certificate from another CA (the front proxy's) is refused.
    let refused = etcd.etcdctl_with(
        &tree.pki("etcd/ca.crt"),
        &tree.pki("front-proxy-client.crt"),
        &tree.pki("front-proxy-client.key"),
        &["get", "/registry/airadm"],
    );
    assert!(!refused.status.success(), "etcd accepted a client certificate of another CA");
}

#[test]
fn default_rsa_tree_works_with_openssl_etcd_and_kubectl() {
    let tree = Tree::generate(resolve(None, InitFlags::default()));
    verify_chains(&tree, true);
    check_fields(
        &tree,
        "DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:node-1, IP Address:10.96.0.1, IP Address:10.0.0.5",
        "DNS:localhost, DNS:node-1, IP Address:10.0.0.5, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1",
    );
    check_keys_and_modes(&tree, "-----BEGIN RSA PRIVATE KEY-----\n");
    let check = openssl(&["rsa", "-check", "-noout", "-in", path_str(&tree.pki("apiserver.key"))]);
    assert_eq!(check.trim(), "RSA key ok");
    check_kubeconfigs(&tree, "https://10.0.0.5:6443", "https://10.0.0.5:6443");
    check_etcd(&tree);
    assert_second_run_reuses_everything(&tree);
}

const HA_ECDSA: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
encryptionAlgorithm: ECDSA-P256
controlPlaneEndpoint: cp.example.com:8443
apiServer:
  certSANs: [10.0.0.100, api.example.com, \"*.apps.example.org\", bad_san, cp.example.com]
etcd:
  local:
    serverCertSANs: [etcd.example.com, 192.0.2.7]
";

#[test]
fn ecdsa_ha_ipv6_tree_works_with_openssl_etcd_and_kubectl() {
    let flags = InitFlags { advertise_address: Some("fd00::5".into()), ..Default::default() };
    let cfg = resolve(Some(HA_ECDSA), flags);
    let dir = tempfile::tempdir().unwrap();
    let out = certs::run(&cfg, &Root::new(dir.path()), "apiserver", SystemTime::now());
    assert!(out.is_err(), "apiserver before ca must fail");
    let tree = Tree::generate(cfg);
    verify_chains(&tree, true);
    check_fields(
        &tree,
        "DNS:*.apps.example.org, DNS:api.example.com, DNS:cp.example.com, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local, DNS:node-1, IP Address:10.96.0.1, IP Address:FD00:0:0:0:0:0:0:5, IP Address:10.0.0.100",
        "DNS:etcd.example.com, DNS:localhost, DNS:node-1, IP Address:FD00:0:0:0:0:0:0:5, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:192.0.2.7",
    );
    check_keys_and_modes(&tree, "-----BEGIN EC PRIVATE KEY-----\n");
    let ec = openssl(&["ec", "-noout", "-text", "-in", path_str(&tree.pki("etcd/server.key"))]);
    assert_contains(&ec, "ASN1 OID: prime256v1", "SEC1 key names its curve");
    check_kubeconfigs(&tree, "https://cp.example.com:8443", "https://[fd00::5]:6443");
    check_etcd(&tree);
    assert_second_run_reuses_everything(&tree);
}

fn assert_second_run_reuses_everything(tree: &Tree) {
    let before = tree.snapshot();
    let certs_out = certs::run(&tree.cfg, &tree.root, "all", SystemTime::now()).unwrap();
    let kubeconfig_out = kubeconfig::run(&tree.cfg, &tree.root, "all", SystemTime::now()).unwrap();
    assert_eq!(tree.snapshot(), before, "a second run changed files");
    assert!(certs_out.iter().all(|l| !l.contains("Generating")), "{certs_out:#?}");
    assert!(kubeconfig_out.iter().skip(1).all(|l| l.starts_with("[kubeconfig] Using existing kubeconfig file")), "{kubeconfig_out:#?}");
}

#[test]
fn external_ca_mode_uses_what_is_there_and_refuses_what_is_missing() {
    let tree = Tree::generate(resolve(
        Some("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\n"),
        InitFlags::default(),
    ));
    fs_err::remove_file(tree.pki("ca.key")).unwrap();
    assert!(certs::using_external_ca(&tree.cfg, &tree.root));
    let before = tree.snapshot();
    let out = certs::run(&tree.cfg, &tree.root, "all", SystemTime::now()).unwrap();
    assert!(out.contains(&"[certs] Using existing ca keyless certificate authority".to_owned()), "{out:#?}");
    let out = kubeconfig::run(&tree.cfg, &tree.root, "all", SystemTime::now()).unwrap();
    assert_eq!(out[1], "[kubeconfig] External CA mode: Using user provided admin.conf");
    assert_eq!(tree.snapshot(), before);

    fs_err::remove_file(tree.pki("apiserver-kubelet-client.crt")).unwrap();
    let err = certs::run(&tree.cfg, &tree.root, "all", SystemTime::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"could not load expected certificate "apiserver-kubelet-client" or validate the existence of key "ca" for it"#
    );
    fs_err::remove_file(tree.kubeconfig("scheduler.conf")).unwrap();
    let err = kubeconfig::run(&tree.cfg, &tree.root, "scheduler", SystemTime::now()).unwrap_err();
    assert_eq!(err.to_string(), "the scheduler.conf file does not exists or it is not valid");
}

#[test]
fn foreign_keys_and_wrong_ca_kubeconfigs_are_refused_with_the_file_named() {
    let yaml = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: ECDSA-P256\n";
    let tree = Tree::generate(resolve(Some(yaml), InitFlags::default()));
    let other = Tree::generate(resolve(Some(yaml), InitFlags::default()));

    // An Ed25519 key, which kubeadm does not load.
    fs_err::remove_file(tree.pki("apiserver.crt")).unwrap();
    fs_err::remove_file(tree.pki("apiserver.key")).unwrap();
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(&tree.pki("ca.key"))]);
    let err = certs::run(&tree.cfg, &tree.root, "apiserver", SystemTime::now()).unwrap_err();
    assert_eq!(err.to_string(), format!("`/{PKI}/ca.key` exists but cannot be used: replace or remove it"));
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the private key is neither in RSA nor ECDSA format");

    // An RSA key that is not the CA's.
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path_str(&tree.pki("ca.key"))]);
    let err = certs::run(&tree.cfg, &tree.root, "apiserver", SystemTime::now()).unwrap_err();
    assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "the private key does not match the certificate's public key");

    // A kubeconfig from another cluster.
    fs_err::copy(other.pki("ca.key"), tree.pki("ca.key")).unwrap();
    fs_err::copy(other.pki("ca.crt"), tree.pki("ca.crt")).unwrap();
    let err = kubeconfig::run(&tree.cfg, &tree.root, "admin", SystemTime::now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"a kubeconfig file "/etc/kubernetes/admin.conf" exists already but has got the wrong CA cert: remove it to have it regenerated"#
    );
}
