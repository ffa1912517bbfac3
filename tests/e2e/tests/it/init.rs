//! `airadm init` end to end: a bundle built from the loopback registry, imported into a test
//! containerd, then kubeadm's host-local phases written under `--rootfs`; the tree is checked
//! with the tools a kubeadm user would use (openssl, kubectl, kubernetes-validate).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::{Containerd, run_fails, run_ok};

use crate::{World, airadm};

/// Kubernetes' own images of this release (`World::reference`) make the bundle.
const VERSION: &str = "v1.34.4";

/// The API phases this version does not run.
const API_PHASES: &str =
    "wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command";

fn init(bundle: &Path, key: &Path, ctd: &Containerd, rootfs: &Path) -> Command {
    let mut cmd = init_flags_kubeadm_allows_with_config(bundle, key, rootfs);
    cmd.arg("--cri-socket").arg(format!("unix://{}", ctd.socket().display())).args(["--apiserver-advertise-address", "10.20.30.40"]);
    cmd
}

fn init_flags_kubeadm_allows_with_config(bundle: &Path, key: &Path, rootfs: &Path) -> Command {
    let mut cmd = airadm();
    cmd.arg("init")
        .arg("--bundle")
        .arg(bundle)
        .arg("--trusted-key")
        .arg(key)
        .arg("--rootfs")
        .arg(rootfs)
        .args(["--node-name", "cp-0"])
        // This machine is not a node (no kubelet, busy ports): preflight reports, does not stop.
        .arg("--ignore-preflight-errors=all");
    cmd
}

/// `init` with `--config FILE`: `documents`, then an InitConfiguration holding what `init` passes
/// as flags (kubeadm refuses those next to `--config`) plus `init_fields`.
fn init_with_config(
    bundle: &Path,
    key: &Path,
    ctd: &Containerd,
    rootfs: &Path,
    config: &Path,
    documents: &str,
    init_fields: &str,
) -> Command {
    let separator = if documents.is_empty() { "" } else { "---\n" };
    let text = format!(
        "{documents}{separator}apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.20.30.40\nnodeRegistration:\n  criSocket: unix://{}\n{init_fields}",
        ctd.socket().display()
    );
    fs_err::write(config, text).unwrap();
    let mut cmd = init_flags_kubeadm_allows_with_config(bundle, key, rootfs);
    cmd.arg("--config").arg(config);
    cmd
}

/// A registry-built amd64 bundle of Kubernetes' own images, its public key, a containerd, an
/// empty rootfs.
fn setup() -> (World, PathBuf, PathBuf, Containerd, PathBuf) {
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let ctd = Containerd::start("registry.k8s.io/pause:3.10.1");
    let rootfs = w.path("rootfs");
    fs_err::create_dir_all(&rootfs).unwrap();
    (w, bundle, public, ctd, rootfs)
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_imports_the_bundle_and_writes_kubeadms_tree() {
    let (_w, bundle, public, ctd, rootfs) = setup();

    // Without skipping the API phases, init writes the node's files, then waits for a kubelet
    // (there is none here) and gives up at the configured timeout with a one-line error.
    let config = rootfs.with_extension("yaml");
    let err = run_fails(init_with_config(&bundle, &public, &ctd, &rootfs, &config, "", "timeouts:\n  kubeletHealthCheck: 2s\n"));
    assert!(err.contains("the kubelet is not healthy after 2s"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(rootfs.join("etc/kubernetes/manifests/kube-apiserver.yaml").exists(), "the host-local phases ran first");
    let out = run_ok(init(&bundle, &public, &ctd, &rootfs).arg(format!("--skip-phases={API_PHASES}")));
    assert!(out.contains("[preflight] Running pre-flight checks"), "{out}");
    assert!(out.contains("[WARNING"), "preflight found this machine is not a node: {out}");
    assert!(out.contains(&format!("[import] registry.k8s.io/kube-apiserver:{VERSION}")), "{out}");
    assert_eq!(out.matches("Creating static Pod manifest").count(), 4, "{out}");
    assert_eq!(ctd.ctr_ok(&["images", "ls", "-q"]).lines().count(), 14, "images imported");

    let k = |p: &str| rootfs.join(p.trim_start_matches('/'));
    // Certificates: every chain verifies with openssl.
    for (ca, leaves) in [
        ("ca", &["apiserver", "apiserver-kubelet-client"][..]),
        ("front-proxy-ca", &["front-proxy-client"][..]),
        ("etcd/ca", &["etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"][..]),
    ] {
        let ca_crt = k(&format!("/etc/kubernetes/pki/{ca}.crt"));
        for leaf in leaves {
            let crt = k(&format!("/etc/kubernetes/pki/{leaf}.crt"));
            let out = run_ok(Command::new("openssl").arg("verify").arg("-CAfile").arg(&ca_crt).arg(&crt));
            assert!(out.trim().ends_with(": OK"), "{leaf}: {out}");
            assert_eq!(mode(&k(&format!("/etc/kubernetes/pki/{leaf}.key"))), 0o600, "{leaf}.key");
        }
    }
    let text = run_ok(Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(k("/etc/kubernetes/pki/apiserver.crt")));
    for san in ["DNS:cp-0", "DNS:kubernetes.default.svc.cluster.local", "IP Address:10.96.0.1", "IP Address:10.20.30.40"] {
        assert!(text.contains(san), "{san} missing: {text}");
    }
    assert!(k("/etc/kubernetes/pki/sa.key").exists() && k("/etc/kubernetes/pki/sa.pub").exists());

    // kubeconfigs load with kubectl and point where kubeadm points them.
    for (file, user, server) in [
        ("admin.conf", "kubernetes-admin", "https://10.20.30.40:6443"),
        ("super-admin.conf", "kubernetes-super-admin", "https://10.20.30.40:6443"),
        ("kubelet.conf", "system:node:cp-0", "https://10.20.30.40:6443"),
        ("controller-manager.conf", "system:kube-controller-manager", "https://10.20.30.40:6443"),
        ("scheduler.conf", "system:kube-scheduler", "https://10.20.30.40:6443"),
    ] {
        let path = k(&format!("/etc/kubernetes/{file}"));
        assert_eq!(mode(&path), 0o600, "{file}");
        let view = run_ok(
            Command::new("kubectl")
                .arg("config")
                .arg("view")
                .arg("--kubeconfig")
                .arg(&path)
                .args(["-o", "jsonpath={.users[0].name} {.clusters[0].cluster.server} {.current-context}"]),
        );
        assert_eq!(view, format!("{user} {server} {user}@kubernetes"), "{file}");
    }

    // Static Pods: kubeadm's four, naming the bundle's images, never pulled.
    let manifest = bundle::reader::read_manifest_unverified(fs_err::File::open(&bundle).unwrap()).unwrap();
    for component in ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
        let path = k(&format!("/etc/kubernetes/manifests/{component}.yaml"));
        assert_eq!(mode(&path), 0o600, "{component}");
        let text = fs_err::read_to_string(&path).unwrap();
        let image = &manifest.images.iter().find(|i| i.component == component).unwrap().name;
        assert!(text.contains(&format!("image: {image}\n")), "{component}: {text}");
        assert!(text.contains("imagePullPolicy: IfNotPresent"), "{component}");
        testkit::golden::kubernetes_validate("1.34.0", &[&path]);
    }
    assert_eq!(mode(&k("/etc/kubernetes/manifests")), 0o700);

    // The kubelet's files.
    let flags = fs_err::read_to_string(k("/var/lib/kubelet/kubeadm-flags.env")).unwrap();
    // v1.34 (feature gate NodeLocalCRISocket) moves the CRI endpoint out of the flags.
    let socket = format!("unix://{}", ctd.socket().display());
    assert!(!flags.contains("--container-runtime-endpoint"), "{flags}");
    let instance = fs_err::read_to_string(k("/var/lib/kubelet/instance-config.yaml")).unwrap();
    assert_eq!(instance, format!("containerRuntimeEndpoint: \"{socket}\"\n"));
    assert!(flags.contains("--pod-infra-container-image=registry.k8s.io/pause:3.10.1"), "{flags}");
    let config = fs_err::read_to_string(k("/var/lib/kubelet/config.yaml")).unwrap();
    assert!(config.contains("staticPodPath: /etc/kubernetes/manifests") && config.contains("clientCAFile: /etc/kubernetes/pki/ca.crt"));
    assert!(config.contains(&format!("containerRuntimeEndpoint: {socket}\n")), "{config}");
    assert!(k("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf").exists());
    // kubeadm chroots into --rootfs and finds no init system there: it says so and goes on.
    assert!(out.contains("[kubelet-start] No supported init system detected, won't make sure the kubelet is running properly."), "{out}");

    // One phase alone regenerates what was removed, and keeps the rest as it was.
    let ca_before = fs_err::read(k("/etc/kubernetes/pki/ca.crt")).unwrap();
    fs_err::remove_file(k("/etc/kubernetes/pki/apiserver.crt")).unwrap();
    fs_err::remove_file(k("/etc/kubernetes/pki/apiserver.key")).unwrap();
    // A phase takes its flags after its name, and only those its kubeadm phase inherits.
    let mut phase = airadm();
    phase.args(["init", "phase", "certs", "apiserver", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public);
    phase.arg("--rootfs").arg(&rootfs).args(["--apiserver-advertise-address", "10.20.30.40"]);
    run_ok(phase);
    assert_eq!(fs_err::read(k("/etc/kubernetes/pki/ca.crt")).unwrap(), ca_before);
    let out = run_ok(
        Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(k("/etc/kubernetes/pki/ca.crt"))
            .arg(k("/etc/kubernetes/pki/apiserver.crt")),
    );
    assert!(out.trim().ends_with(": OK"), "{out}");
}

#[test]
fn dry_run_and_bad_config_change_nothing() {
    let (w, bundle, public, ctd, rootfs) = setup();

    let out = run_ok(init(&bundle, &public, &ctd, &rootfs).arg("--dry-run").arg(format!("--skip-phases={API_PHASES}")));
    assert!(out.contains("[dryrun] Wrote certificates, kubeconfig files and control plane manifests to the"), "{out}");
    let dir = out.lines().last().unwrap().split('"').nth(1).unwrap().to_owned();
    assert!(Path::new(&dir).join("etc/kubernetes/manifests/kube-apiserver.yaml").exists(), "{dir}");
    fs_err::remove_dir_all(&dir).unwrap();
    assert_eq!(fs_err::read_dir(&rootfs).unwrap().count(), 0, "--dry-run wrote to the node");
    assert!(ctd.ctr_ok(&["images", "ls", "-q"]).trim().is_empty(), "--dry-run imported images");

    // A typo in the config: one line naming the file and line, nothing written.
    let config = w.path("kubeadm.yaml");
    let typo = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnett: 10.244.0.0/16\n";
    let err = run_fails(init_with_config(&bundle, &public, &ctd, &rootfs, &config, typo, ""));
    assert!(err.contains("kubeadm.yaml:4: unknown field `podSubnett`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A bundle signed by another key: refused before anything happens.
    let (_, other) = w.keygen("other");
    let err = run_fails(init(&bundle, &other, &ctd, &rootfs));
    assert!(err.contains("not a trusted key"), "{err}");
    assert_eq!(fs_err::read_dir(&rootfs).unwrap().count(), 0);
    assert!(ctd.ctr_ok(&["images", "ls", "-q"]).trim().is_empty());

    // kubeadm's config commands: the bundle's signature is checked (another key: refused).
    for command in [&["config", "print", "init-defaults"][..], &["config", "images", "list"]] {
        let err = run_fails(airadm().args(command).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&other));
        assert!(err.contains("not a trusted key") && err.lines().count() == 1, "{command:?}: {err}");
    }
    let defaults = run_ok(airadm().args(["config", "print", "init-defaults", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    assert!(defaults.contains("kind: InitConfiguration") && defaults.contains(&format!("kubernetesVersion: {VERSION}")), "{defaults}");
    let images = run_ok(airadm().args(["config", "images", "list", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    // What real kubeadm of the release lists.
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    assert_eq!(images, run_ok(Command::new(kubeadm).args(["config", "images", "list", "--kubernetes-version", VERSION])));
}

#[test]
fn config_paths_and_symlinks_never_lead_out_of_the_rootfs() {
    let (w, bundle, public, ctd, _) = setup();
    let skip = format!("--skip-phases=import,{API_PHASES}");

    // `..` above `/` in certificatesDir: refused before anything is written, naming field and root.
    let rootfs = w.path("a/b/rootfs");
    fs_err::create_dir_all(&rootfs).unwrap();
    let config = w.path("escape.yaml");
    let escape = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: /../../escaped-pki\n";
    let err = run_fails(init_with_config(&bundle, &public, &ctd, &rootfs, &config, escape, "").arg(&skip));
    assert_eq!(
        err.trim(),
        format!(
            "error: certificatesDir `/../../escaped-pki` leaves --rootfs `{}`: give an absolute path with no `..` above `/`",
            rootfs.display()
        )
    );
    assert!(!w.path("a/escaped-pki").exists(), "written outside --rootfs");
    assert_eq!(fs_err::read_dir(&rootfs).unwrap().count(), 0);

    // The same under --dry-run: its temp dir is left neither.
    let tmp = w.path("t/a/b");
    fs_err::create_dir_all(&tmp).unwrap();
    let escape = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificatesDir: /../../../escaped-pki\n";
    let err =
        run_fails(init_with_config(&bundle, &public, &ctd, &rootfs, &config, escape, "").env("TMPDIR", &tmp).arg(&skip).arg("--dry-run"));
    assert!(err.contains("certificatesDir `/../../../escaped-pki` leaves --rootfs"), "{err}");
    assert!(!w.path("t/escaped-pki").exists(), "written outside the --dry-run directory");
    let err = run_fails(init(&bundle, &public, &ctd, &rootfs).arg("--cert-dir=/../x").arg(&skip));
    assert!(err.contains("--cert-dir `/../x` leaves --rootfs"), "{err}");

    // A symlink in the rootfs to the host's tree resolves inside the rootfs (as in kubeadm's
    // chroot), so nothing lands on the host: here it leads nowhere and init says so.
    let host = w.path("host-kubernetes");
    fs_err::create_dir_all(&host).unwrap();
    fs_err::create_dir_all(rootfs.join("etc")).unwrap();
    std::os::unix::fs::symlink(&host, rootfs.join("etc/kubernetes")).unwrap();
    let err = run_fails(init(&bundle, &public, &ctd, &rootfs).arg(&skip));
    assert!(err.contains("`/etc/kubernetes` under --rootfs") && err.contains("is a symlink to a path missing there"), "{err}");
    assert_eq!(fs_err::read_dir(&host).unwrap().count(), 0, "written through a symlink to the host");
    // Pointed inside the rootfs, it is followed there.
    fs_err::remove_file(rootfs.join("etc/kubernetes")).unwrap();
    fs_err::create_dir_all(rootfs.join("data/kubernetes")).unwrap();
    std::os::unix::fs::symlink("/data/kubernetes", rootfs.join("etc/kubernetes")).unwrap();
    run_ok(init(&bundle, &public, &ctd, &rootfs).arg(&skip));
    assert!(rootfs.join("data/kubernetes/pki/ca.key").is_file() && rootfs.join("data/kubernetes/manifests/etcd.yaml").is_file());
    assert_eq!(fs_err::read_dir(&host).unwrap().count(), 0);
}

#[test]
fn flags_kubeadm_refuses_next_to_config_stop_init_before_anything_is_read() {
    let err = run_fails(airadm().args([
        "init",
        "--bundle=/nonexistent.tar.zst",
        "--config=/nonexistent.yaml",
        "--pod-network-cidr=10.244.0.0/16",
        "--cert-dir=/pki",
        "--node-name=cp-0",
        "--ignore-preflight-errors=all",
    ]));
    assert_eq!(
        err.trim(),
        "error: can not mix '--config' with arguments [cert-dir pod-network-cidr]: set them in the --config file instead"
    );
}

#[test]
fn an_invalid_log_filter_is_an_error_naming_where_it_came_from() {
    let err = run_fails(airadm().env("AIRADM_LOG", "installer=loud").args(["verify", "--bundle=/nonexistent"]));
    assert!(err.starts_with("error: AIRADM_LOG `installer=loud` is not a log filter ("), "{err}");
    assert!(err.trim_end().ends_with("use tracing's syntax, e.g. `info` or `warn,installer=debug`"), "{err}");
    let err = run_fails(airadm().env_remove("AIRADM_LOG").args(["--log-level=installer=loud", "verify", "--bundle=/nonexistent"]));
    assert!(err.starts_with("error: --log-level `installer=loud` is not a log filter ("), "{err}");
}
