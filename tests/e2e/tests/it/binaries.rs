//! The node's own binaries: `airbundle build` takes them from a loopback release server laying
//! out dl.k8s.io's and GitHub's download trees with the reference toolchain's real kubelet,
//! kubectl, kubeadm, crictl and CNI plugins (`testkit::releases`); `airadm binaries install` and
//! `init phase binaries` put them on a node under `--rootfs`, where they run and say their versions.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::releases::{Fault, ReleaseServer};
use testkit::{run, run_fails, run_ok, workspace_bin};

use crate::{World, airadm, airbundle};

/// The release whose binaries and images the tests carry.
const VERSION: &str = "v1.34.4";

fn build(world: &World, key: &Path, out: &Path, cache: &Path, extra: &[&str]) -> Command {
    let mut cmd = airbundle();
    cmd.args(["build", "--kubernetes-version", VERSION, "--arch", "amd64", "--plain-http", "--quiet", "--mirror", world.registry.addr()])
        .arg("--signing-key")
        .arg(key)
        .arg("--output-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(cache)
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HOME", world.dir.path());
    cmd
}

fn install(bundle: &Path, key: &Path, rootfs: &Path, extra: &[&str]) -> String {
    run_ok(
        airadm()
            .args(["binaries", "install", "--bundle"])
            .arg(bundle)
            .arg("--trusted-key")
            .arg(key)
            .arg("--rootfs")
            .arg(rootfs)
            .args(extra),
    )
}

fn output_of(program: &Path, args: &[&str]) -> String {
    run_ok(Command::new(program).args(args))
}

const NODE_FILES: &[&str] = &[
    "usr/local/bin/kubelet",
    "usr/local/bin/kubectl",
    "usr/local/bin/kubeadm",
    "usr/local/bin/crictl",
    "usr/local/bin/airadm",
    "opt/cni/bin/bridge",
    "opt/cni/bin/host-local",
    "opt/cni/bin/loopback",
    "opt/cni/bin/portmap",
];

#[test]
fn bundles_carry_the_release_binaries_and_airadm_installs_them_once() {
    let world = World::reference(VERSION);
    let server = ReleaseServer::start(VERSION, "amd64");
    let (key, public) = world.keygen("release");
    let airadm_binary = format!("amd64={}", workspace_bin("airadm").display());
    let mirror = ["--binaries-mirror", &server.url(), "--airadm-binary", &airadm_binary];
    let (out1, out2) = (world.path("out1"), world.path("out2"));
    // The debug airadm runs only where this machine's glibc does: packed, with a warning.
    let built = run(build(&world, &key, &out1, &world.path("cache1"), &mirror));
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("--airadm-binary {airadm_binary}: is dynamically linked")), "{stderr}");
    // A local tree of the same layout, cold cache: the same bytes (the manifest records upstream URLs).
    let dir = server.dir().display().to_string();
    run_ok(build(&world, &key, &out2, &world.path("cache2"), &["--binaries-dir", &dir, "--airadm-binary", &airadm_binary]));
    let bundle = world.bundle(&out1, "amd64");
    assert_eq!(fs_err::read(&bundle).unwrap(), fs_err::read(world.bundle(&out2, "amd64")).unwrap(), "two builds differ");
    run_ok(airadm().args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    let missing = world.path("no-such-root");
    let err = run_fails(
        airadm().args(["binaries", "install", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public).arg("--rootfs").arg(&missing),
    );
    assert_eq!(
        err.trim(),
        format!("error: --rootfs `{}` is not a directory: create it, or leave --rootfs out to install on this node", missing.display())
    );
    assert!(!missing.exists());

    // Standard tools see them as plain entries; the archives' licence and readme are left out.
    let listing = testkit::tar_listing(&bundle);
    for name in ["bin/airadm", "bin/crictl", "bin/kubeadm", "bin/kubectl", "bin/kubelet", "cni/bin/bridge", "cni/bin/host-local"] {
        assert!(listing.iter().any(|l| l == name), "{name} not in {listing:?}");
    }
    assert!(!listing.iter().any(|l| l.contains("LICENSE") || l.contains("README")), "{listing:?}");
    let manifest = crate::import::manifest(&bundle);
    assert_eq!(manifest.schema_version, 2);
    let kubelet = manifest.binaries.iter().find(|b| b.name == "kubelet").unwrap();
    let source = kubelet.source.as_ref().unwrap();
    assert_eq!(source.url, format!("https://dl.k8s.io/release/{VERSION}/bin/linux/amd64/kubelet"));
    let published: Vec<&str> = source.checksums.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(published, ["sha256", "sha512"]);
    let served = fs_err::read(server.dir().join(server.paths("amd64").kubernetes_dir).join("kubelet")).unwrap();
    assert_eq!(kubelet.sha256, bundle::Digest::of(&served));
    let bridge = manifest.binaries.iter().find(|b| b.name == "bridge").unwrap();
    assert_eq!(bridge.source.as_ref().unwrap().member.as_deref(), Some("./bridge"));
    let inspect = run_ok(airbundle().arg("inspect").arg(&bundle));
    assert!(inspect.contains("binaries:") && inspect.contains("cni/bin/portmap"), "{inspect}");

    // Installed under --rootfs, each runs and says the bundle's version.
    let rootfs = world.path("rootfs");
    fs_err::create_dir_all(&rootfs).unwrap();
    let first = install(&bundle, &public, &rootfs, &[]);
    for file in NODE_FILES {
        let meta = fs_err::metadata(rootfs.join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755, "{file}");
    }
    let bin = |name: &str| rootfs.join("usr/local/bin").join(name);
    assert_eq!(output_of(&bin("kubelet"), &["--version"]).trim(), format!("Kubernetes {VERSION}"));
    assert!(output_of(&bin("kubectl"), &["version", "--client"]).contains(&format!("Client Version: {VERSION}")));
    assert_eq!(output_of(&bin("kubeadm"), &["version", "-o", "short"]).trim(), VERSION);
    assert_eq!(output_of(&bin("crictl"), &["--version"]).trim(), format!("crictl version {}", server.versions().crictl));
    let unit = fs_err::read_to_string(rootfs.join("etc/systemd/system/kubelet.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/kubelet\n"), "{unit}");
    let drop_in = fs_err::read_to_string(rootfs.join("etc/systemd/system/kubelet.service.d/10-kubeadm.conf")).unwrap();
    assert!(drop_in.contains("\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS"), "{drop_in}");
    assert!(first.contains(&format!("[binaries] Installed kubelet {VERSION} to \"/usr/local/bin/kubelet\"")), "{first}");

    // A second install changes nothing: every file keeps its inode and time.
    let stamp = |file: &str| fs_err::metadata(rootfs.join(file)).map(|m| (m.ino(), m.mtime_nsec())).unwrap();
    let before: Vec<_> = NODE_FILES.iter().map(|f| stamp(f)).collect();
    let again = install(&bundle, &public, &rootfs, &[]);
    assert_eq!(NODE_FILES.iter().map(|f| stamp(f)).collect::<Vec<_>>(), before);
    assert!(again.contains("[binaries] \"/usr/local/bin/kubelet\" is kubelet v1.34.4 already") && !again.contains("Wrote"), "{again}");

    // Another kubelet is kept and reported; --force-binaries replaces it.
    fs_err::write(bin("kubelet"), "#!/bin/sh\necho Kubernetes v1.35.0\n").unwrap();
    let kept = install(&bundle, &public, &rootfs, &[]);
    assert!(
        kept.contains("[binaries] WARNING: kept \"/usr/local/bin/kubelet\" (Kubernetes v1.35.0): it is not the bundle's kubelet v1.34.4; pass --force-binaries to replace it"),
        "{kept}"
    );
    assert_eq!(output_of(&bin("kubelet"), &["--version"]).trim(), "Kubernetes v1.35.0");
    // Preflight asks the installed kubelet, not the PATH's.
    let preflight = run_ok(
        airadm()
            .args(["init", "phase", "preflight", "--bundle"])
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--rootfs")
            .arg(&rootfs)
            .args(["--ignore-preflight-errors=all", "--cri-socket", "unix:///nonexistent.sock"]),
    );
    assert!(preflight.contains("Kubelet version: \"v1.35.0\" Control plane version: \"v1.34.4\""), "{preflight}");
    let replaced = install(&bundle, &public, &rootfs, &["--force-binaries"]);
    assert!(replaced.contains("[binaries] Replaced \"/usr/local/bin/kubelet\" (Kubernetes v1.35.0) with kubelet v1.34.4"), "{replaced}");
    assert_eq!(output_of(&bin("kubelet"), &["--version"]).trim(), format!("Kubernetes {VERSION}"));
    let listed =
        run_ok(airadm().args(["binaries", "list", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public).arg("--rootfs").arg(&rootfs));
    assert!(listed.lines().filter(|l| l.contains(" installed ")).count() == NODE_FILES.len(), "{listed}");

    // init's own phase does the same on a fresh root, with --bin-dir.
    let other = world.path("rootfs2");
    fs_err::create_dir_all(&other).unwrap();
    let phase = run_ok(
        airadm()
            .args(["init", "phase", "binaries", "--bundle"])
            .arg(&bundle)
            .arg("--trusted-key")
            .arg(&public)
            .arg("--rootfs")
            .arg(&other)
            .args(["--bin-dir", "/opt/bin"]),
    );
    assert!(phase.contains("Installed kubectl v1.34.4 to \"/opt/bin/kubectl\""), "{phase}");
    assert!(other.join("opt/cni/bin/portmap").is_file() && !other.join("usr/local/bin").exists());
}

/// A bundle of the reference images and node binaries (from the loopback release server), and
/// the public key it verifies with.
fn bundle_with_binaries(world: &World) -> (PathBuf, PathBuf) {
    let server = ReleaseServer::start(VERSION, "amd64");
    let (key, public) = world.keygen("release");
    let out = world.path("out");
    run_ok(build(world, &key, &out, &world.path("cache"), &["--binaries-mirror", &server.url()]));
    (world.bundle(&out, "amd64"), public)
}

/// `bundle` with its last byte, the zstd checksum, flipped, written to `to` (which has no
/// detached signature, so only the embedded one guards it): nothing may be used before the end
/// of the stream checks out.
fn with_last_byte_flipped(bundle: &Path, to: &Path) {
    let mut bytes = fs_err::read(bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    fs_err::write(to, bytes).unwrap();
}

#[test]
fn a_bundle_with_binaries_that_fails_verification_installs_nothing() {
    let world = World::reference(VERSION);
    let (intact, public) = bundle_with_binaries(&world);
    let bundle = world.path("tampered.tar.zst");
    with_last_byte_flipped(&intact, &bundle);
    let rootfs = world.path("rootfs");
    fs_err::create_dir_all(&rootfs).unwrap();
    let err = run_fails(
        airadm().args(["binaries", "install", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public).arg("--rootfs").arg(&rootfs),
    );
    assert!(err.contains(&bundle.display().to_string()), "{err}");
    let left = testkit::walk(&rootfs);
    assert!(left.is_empty(), "left after a refused bundle: {left:?}");
}

#[test]
fn bad_downloads_are_refused_naming_the_url_and_nothing_is_written() {
    let world = World::reference(VERSION);
    let server = ReleaseServer::start(VERSION, "amd64");
    let (key, _) = world.keygen("release");
    let paths = server.paths("amd64");
    let kube = |name: &str| format!("{}{name}", paths.kubernetes_dir);
    let cases: Vec<(String, Fault, String)> = vec![
        (kube("kubelet.sha512"), Fault::Body(format!("{}\n", "0".repeat(128)).into_bytes()), format!("says {}", "0".repeat(128))),
        (kube("kubectl"), Fault::Corrupt, "checksum mismatch".into()),
        (paths.crictl.clone(), Fault::Missing, "not found".into()),
        (paths.cni.clone(), Fault::CutAfter(1000), "failed after".into()),
    ];
    for (i, (path, fault, said)) in cases.into_iter().enumerate() {
        server.clear_faults();
        server.fault(&path, fault);
        let out = world.path(&format!("out{i}"));
        let err = run_fails(build(&world, &key, &out, &world.path(&format!("cache{i}")), &["--binaries-mirror", &server.url()]));
        let url = format!("{}/{}", server.url(), path.trim_end_matches(".sha512"));
        // One error line (retries are logged as warnings before it) naming the URL.
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert!(errors[0].contains(&url) && errors[0].contains(&said), "{path}: {err}");
        let written: Vec<PathBuf> = testkit::walk(&out);
        assert!(written.is_empty(), "{path}: a failed build left {written:?}");
    }
}

/// Every phase of init after `binaries`: with them skipped, init is `import` then `binaries`.
const AFTER_BINARIES: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,cni,show-join-command";

fn init_import_and_binaries(bundle: &Path, key: &Path, ctd: &testkit::Containerd, rootfs: &Path, skip: &str) -> Command {
    let mut cmd = airadm();
    cmd.args(["init", "--node-name", "cp-0", "--ignore-preflight-errors=all", "--bundle"])
        .arg(bundle)
        .arg("--trusted-key")
        .arg(key)
        .arg("--rootfs")
        .arg(rootfs)
        .arg("--cri-socket")
        .arg(format!("unix://{}", ctd.socket().display()))
        .arg(format!("--skip-phases={skip}"));
    cmd
}

/// When init runs both, `import`'s verifying pass also stages the binaries and `binaries` puts
/// them in place: a bundle refused at its last byte leaves neither an image nor a file (nor a
/// directory) behind; a good one gives the images and the binaries; with `binaries` skipped,
/// `import` stages nothing.
#[test]
fn init_installs_the_binaries_import_staged_and_a_refused_bundle_leaves_neither() {
    let world = World::reference(VERSION);
    let (bundle, public) = bundle_with_binaries(&world);
    let ctd = testkit::Containerd::start("registry.k8s.io/pause:3.10.1");

    let tampered = world.path("tampered.tar.zst");
    with_last_byte_flipped(&bundle, &tampered);
    let rootfs = world.path("rootfs");
    fs_err::create_dir_all(&rootfs).unwrap();
    let err = run_fails(init_import_and_binaries(&tampered, &public, &ctd, &rootfs, AFTER_BINARIES));
    assert!(err.contains("phase \"import\"") && err.contains(&tampered.display().to_string()), "{err}");
    assert_eq!(testkit::walk(&rootfs), Vec::<PathBuf>::new(), "left after a refused bundle");
    assert_eq!(ctd.ctr_ok(&["images", "ls", "-q"]), "", "images named after a refused bundle");

    let done = run_ok(init_import_and_binaries(&bundle, &public, &ctd, &rootfs, AFTER_BINARIES));
    assert!(done.contains(&format!("[import] registry.k8s.io/kube-apiserver:{VERSION}")), "{done}");
    assert!(done.contains(&format!("[binaries] Installed kubelet {VERSION} to \"/usr/local/bin/kubelet\"")), "{done}");
    let mut installed: Vec<String> =
        testkit::walk(&rootfs).iter().filter(|p| p.is_file()).map(|p| p.strip_prefix(&rootfs).unwrap().display().to_string()).collect();
    installed.retain(|p| !p.starts_with("etc/systemd/"));
    installed.sort();
    let mut expected: Vec<String> = NODE_FILES.iter().filter(|f| **f != "usr/local/bin/airadm").map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(installed, expected, "only the binaries, no staged temp file left");
    for file in &installed {
        assert_eq!(fs_err::metadata(rootfs.join(file)).unwrap().permissions().mode() & 0o7777, 0o755, "{file}");
    }
    let kubelet = rootfs.join("usr/local/bin/kubelet");
    assert_eq!(output_of(&kubelet, &["--version"]).trim(), format!("Kubernetes {VERSION}"));

    let import_only = world.path("rootfs-import-only");
    fs_err::create_dir_all(&import_only).unwrap();
    let done = run_ok(init_import_and_binaries(&bundle, &public, &ctd, &import_only, &format!("binaries,{AFTER_BINARIES}")));
    assert!(done.contains("[import]") && !done.contains("[binaries]"), "{done}");
    assert_eq!(testkit::walk(&import_only), Vec::<PathBuf>::new(), "import staged binaries that no phase installs");
}
