//! The node's files against real kubeadm: for every config case (`cases/`), moved to the
//! reference release of its minor, real kubeadm of that release (`tests/reference/build.sh`) runs `init phase certs all`, `kubeconfig all` and
//! `kubelet-start` chrooted into one root, airadm's same phases write another, and then:
//! - certificates are equal in subject, issuer, SANs, key usages, extended key usages, basic
//!   constraints, validity length and key algorithm and size; private and public keys in PEM
//!   label; every file in name and mode;
//! - kubeconfigs (both written with kubeadm's CA, copied into airadm's root) are equal in
//!   cluster, user and context names, server, embedded CA, and in their client certificates as
//!   above;
//! - `/var/lib/kubelet/config.yaml`, `kubeadm-flags.env` and (from v1.34, feature gate
//!   `NodeLocalCRISocket`) `instance-config.yaml` are byte-identical, and nothing else is there.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod cases;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;
use cases::{CASES, Case};
use installer::kubeadm::files::Root;
use installer::kubeadm::{certs, kubeconfig, kubelet};
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// What must be equal in two certificates.
fn describe_cert(der: &[u8]) -> String {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    let validity = cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp();
    let sans = cert.subject_alternative_name().unwrap().map(|s| format!("{:?}", s.value.general_names)).unwrap_or_default();
    let ku = cert.key_usage().unwrap().map(|k| format!("{:?} critical={}", k.value, k.critical)).unwrap_or_default();
    let eku = cert.extended_key_usage().unwrap().map(|k| format!("{:?}", k.value)).unwrap_or_default();
    let bc = cert.basic_constraints().unwrap().map(|k| format!("{:?} critical={}", k.value, k.critical)).unwrap_or_default();
    let spki = cert.public_key();
    format!(
        "subject: {}\nissuer: {}\nsans: {sans}\nkey usage: {ku}\nextended: {eku}\nbasic: {bc}\nvalidity: {validity}s\nkey: {} {} bytes\nversion: {:?}",
        cert.subject(),
        cert.issuer(),
        spki.algorithm.algorithm,
        spki.subject_public_key.data.len(),
        cert.version()
    )
}

/// Every file under `root/dir`: relative path → what must be equal.
fn describe_tree(root: &Path, dir: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.join(dir)];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o7777;
            if path.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                dirs.push(path);
                continue;
            }
            let bytes = fs_err::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            let what = if rel.ends_with(".crt") {
                let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes).unwrap();
                describe_cert(&pem.contents)
            } else {
                text.lines().filter(|l| l.starts_with("-----BEGIN")).collect::<Vec<_>>().join(" ")
            };
            out.insert(rel, format!("mode {mode:o}\n{what}"));
        }
    }
    out
}

/// A kubeconfig's names, server and CA, and its client certificate described.
fn describe_kubeconfig(path: &Path) -> String {
    let doc: serde_json::Value = serde_saphyr::from_str(&fs_err::read_to_string(path).unwrap()).unwrap();
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default()).unwrap();
    let mut out = format!("mode {:o}\n", fs_err::metadata(path).unwrap().permissions().mode() & 0o7777);
    for cluster in doc["clusters"].as_array().unwrap() {
        let ca = b64(&cluster["cluster"]["certificate-authority-data"]);
        out += &format!("cluster {} server {} ca {}\n", cluster["name"], cluster["cluster"]["server"], installer_sha(&ca));
    }
    for context in doc["contexts"].as_array().unwrap() {
        out += &format!("context {} {}\n", context["name"], context["context"]);
    }
    out += &format!("current {}\n", doc["current-context"]);
    for user in doc["users"].as_array().unwrap() {
        let cert = b64(&user["user"]["client-certificate-data"]);
        let (_, pem) = x509_parser::pem::parse_x509_pem(&cert).unwrap();
        let key = String::from_utf8(b64(&user["user"]["client-key-data"])).unwrap();
        let label = key.lines().next().unwrap_or_default().to_owned();
        // kubeadm's NotBefore is the CA's, its NotAfter a year after the kubeconfig phase
        // started: the length depends on when the CA was made, so it is compared to the minute.
        let (_, leaf) = X509Certificate::from_der(&pem.contents).unwrap();
        let ca = b64(&doc["clusters"][0]["cluster"]["certificate-authority-data"]);
        let (_, ca_pem) = x509_parser::pem::parse_x509_pem(&ca).unwrap();
        let (_, ca) = X509Certificate::from_der(&ca_pem.contents).unwrap();
        let from_ca = leaf.validity().not_before == ca.validity().not_before;
        let described: Vec<String> = describe_cert(&pem.contents)
            .lines()
            .map(|l| match l.strip_prefix("validity: ").and_then(|v| v.trim_end_matches('s').parse::<i64>().ok()) {
                Some(seconds) => format!("validity: {} min, NotBefore is the CA's: {from_ca}", (seconds + 30) / 60),
                None => l.to_owned(),
            })
            .collect();
        out += &format!("user {}\n{}\nkey {label}\n", user["name"], described.join("\n"));
    }
    out
}

fn installer_sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn hostname() -> String {
    fs_err::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}

#[test]
fn certs_kubeconfigs_and_kubelet_files_are_what_real_kubeadm_writes() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in CASES {
        // Moved to the reference release of its minor: kubeadm's behaviour changes in patch
        // releases too (v1.33.13 dropped the kubelet client's organization), and airadm follows
        // the bundle's patch.
        let mut case = Case::load(name);
        let release = testkit::reference::release(case.version.minor);
        case.version = installer::kubeadm::Version::parse(release).unwrap();
        let kubeadm = testkit::reference::binary(release, "kubeadm");
        let config = testkit::reference::with_kubernetes_version(&case.yaml, &case.version.text);
        let patches = case.yaml.contains("patches:");
        let theirs = testkit::reference::kubeadm_root(&kubeadm, &config, &case.host_paths, patches.then_some(case.dir.as_path()));
        for phase in [&["certs", "all"][..], &["kubeconfig", "all"], &["kubelet-start"]] {
            let mut args = vec!["init", "phase"];
            args.extend(phase);
            args.extend(["--config", "/config.yaml"]);
            testkit::reference::kubeadm_in(theirs.path(), &args, &case.env);
        }

        // airadm: the same phases into its own root; the kubeconfigs with kubeadm's CA.
        let mut cfg = case.config();
        let images = testkit::run_ok(std::process::Command::new(&kubeadm).args([
            "config",
            "images",
            "list",
            "--kubernetes-version",
            &case.version.text,
        ]));
        cfg.images.pause = images.lines().find(|l| l.contains("/pause:")).unwrap().to_owned();
        let ours_dir = tempfile::tempdir().unwrap();
        let ours = Root::new(ours_dir.path());
        for path in &case.host_paths {
            ours.create_dir(path, 0o755).unwrap();
        }
        let now = SystemTime::now();
        certs::run(&cfg, &ours, "all", now).unwrap();
        let pki = cfg.cert_dir.trim_start_matches('/').to_owned();
        for file in ["ca.crt", "ca.key"] {
            fs_err::copy(theirs.path().join(&pki).join(file), ours_dir.path().join(&pki).join(file)).unwrap();
        }
        kubeconfig::run(&cfg, &ours, "all", now).unwrap();
        kubelet::write_files(&cfg, &ours, &hostname(), kubelet::Workflow::Init).unwrap();

        let (a, b) = (describe_tree(theirs.path(), &pki), describe_tree(ours_dir.path(), &pki));
        for file in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
            compared += 1;
            match (a.get(file), b.get(file)) {
                (Some(x), Some(y)) if x == y => {}
                (x, y) => failures.push(format!("{name}/{file} ({release}):\nkubeadm: {x:?}\nairadm:  {y:?}")),
            }
        }
        for file in ["admin.conf", "super-admin.conf", "kubelet.conf", "controller-manager.conf", "scheduler.conf"] {
            compared += 1;
            let (x, y) = (
                describe_kubeconfig(&theirs.path().join("etc/kubernetes").join(file)),
                describe_kubeconfig(&ours_dir.path().join("etc/kubernetes").join(file)),
            );
            if x != y {
                failures.push(format!("{name}/{file} ({release}): {}", testkit::golden::first_difference(&x, &y)));
            }
        }
        for file in ["var/lib/kubelet/config.yaml", "var/lib/kubelet/kubeadm-flags.env", "var/lib/kubelet/instance-config.yaml"] {
            compared += 1;
            let x = fs_err::read_to_string(theirs.path().join(file)).unwrap_or_default();
            let y = fs_err::read_to_string(ours_dir.path().join(file)).unwrap_or_default();
            if x != y {
                failures.push(format!("{name}/{file} ({release}): {}", testkit::golden::first_difference(&x, &y)));
            }
        }
        // Nothing else in the kubelet's directory (v1.34's instance-config.yaml, say).
        let list = |root: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs_err::read_dir(root.join("var/lib/kubelet"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        if list(theirs.path()) != list(ours_dir.path()) {
            failures.push(format!(
                "{name}/var/lib/kubelet ({release}): kubeadm {:?}, airadm {:?}",
                list(theirs.path()),
                list(ours_dir.path())
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {compared} files differ from real kubeadm's:\n{}", failures.len(), failures.join("\n\n"));
}

/// A node whose PKI and kubeconfigs already exist, with the CA key (kubeadm reuses every file
/// that checks out) and without it (external CA mode: kubeadm checks the files and signs
/// nothing): airadm prints what kubeadm prints and, like kubeadm, changes no file.
#[test]
fn existing_files_and_external_ca_mode_are_kubeadms() {
    let mut case = Case::load("defaults-v1.34");
    let release = testkit::reference::release(case.version.minor);
    case.version = installer::kubeadm::Version::parse(release).unwrap();
    let cfg = case.config();
    let kubeadm = testkit::reference::binary(release, "kubeadm");
    let config = testkit::reference::with_kubernetes_version(&case.yaml, release);
    let made = testkit::reference::kubeadm_root(&kubeadm, &config, &case.host_paths, None);
    let phases = [&["certs", "all"][..], &["kubeconfig", "all"]];
    let kubeadm_phases = |root: &Path| -> Vec<String> {
        let mut lines = Vec::new();
        for phase in phases {
            let mut args = vec!["init", "phase"];
            args.extend(phase);
            args.extend(["--config", "/config.yaml"]);
            lines.extend(testkit::reference::kubeadm_in(root, &args, &case.env).lines().map(str::to_owned));
        }
        lines
    };
    kubeadm_phases(made.path());
    for external in [false, true] {
        let theirs = testkit::reference::kubeadm_root(&kubeadm, &config, &case.host_paths, None);
        let ours_dir = tempfile::tempdir().unwrap();
        for root in [theirs.path(), ours_dir.path()] {
            fs_err::create_dir_all(root.join("etc/kubernetes")).unwrap();
            testkit::reference::copy_tree(&made.path().join("etc/kubernetes"), &root.join("etc/kubernetes"));
            for dir in &case.host_paths {
                fs_err::create_dir_all(root.join(dir.trim_start_matches('/'))).unwrap();
            }
            if external {
                fs_err::remove_file(root.join("etc/kubernetes/pki/ca.key")).unwrap();
            }
        }
        let before = describe_files(theirs.path());
        let said = kubeadm_phases(theirs.path());
        let ours = Root::new(ours_dir.path());
        let now = SystemTime::now();
        let mut ours_said = certs::run(&cfg, &ours, "all", now).unwrap();
        ours_said.extend(kubeconfig::run(&cfg, &ours, "all", now).unwrap());
        let mode = if external { "external CA" } else { "existing files" };
        assert_eq!(ours_said, said, "{mode}: what airadm (left) and kubeadm (right) print");
        let marker = if external { "External CA mode" } else { "Using existing ca certificate authority" };
        assert!(said.iter().any(|l| l.contains(marker)), "{mode}: {said:#?}");
        assert_eq!(describe_files(theirs.path()), before, "{mode}: kubeadm changed no file");
        assert_eq!(describe_files(ours_dir.path()), before, "{mode}: airadm changed no file");
    }
}

/// Every file under `root/etc/kubernetes`: path → contents.
fn describe_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.join("etc/kubernetes")];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string(), fs_err::read(&path).unwrap());
            }
        }
    }
    out
}
