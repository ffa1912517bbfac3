//! The release binaries (`.ci/dist.sh`) where the glibc build cannot go: the static amd64
//! `airadm` in a Debian 11 root (glibc 2.31) against a containerd on the host, installing the
//! node binaries (itself among them) from the bundle it was built into; the arm64 build under
//! `qemu-aarch64`; and what `ldd` and `readelf` say of each.

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::image::CATALOG_V1_34_4;
use testkit::releases::ReleaseServer;
use testkit::{Containerd, dist, require, run, run_fails, run_ok, workspace_bin};

use crate::World;
use crate::import::manifest;

/// The release whose node binaries (the reference toolchain's) the amd64 bundle carries.
const NODE_VERSION: &str = "v1.34.4";

/// The commit this tree is at (what `version` must report).
fn head() -> String {
    run_ok(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR"))).trim().to_owned()
}

/// `version -o json`'s `clientVersion`.
fn version_of(cmd: &mut Command) -> serde_json::Value {
    let json: serde_json::Value = serde_json::from_str(&run_ok(cmd.args(["version", "-o", "json"]))).unwrap();
    json["clientVersion"].clone()
}

/// `args` run chrooted into `root`, in a mount namespace of their own where `host_dir` (the
/// host's containerd socket directory) is bound at `/run/host`.
fn in_root(root: &Path, host_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"root=$1 host=$2; shift 2; mount --bind "$host" "$root/run/host" && exec chroot "$root" "$@""#)
        .arg("sh")
        .arg(root)
        .arg(host_dir)
        .args(args);
    cmd
}

#[test]
fn the_static_airadm_verifies_imports_and_installs_in_a_debian_11_root_against_the_hosts_containerd() {
    let world = World::of(NODE_VERSION, CATALOG_V1_34_4, 20_000);
    let server = ReleaseServer::start(NODE_VERSION, "amd64");
    let (key, public) = world.keygen("release");
    let out = world.path("out");
    let static_airadm = dist::binary("airadm", "amd64");
    // Each bundle carries its own architecture's airadm: the arm64 one is refused for amd64.
    let wrong = format!("amd64={}", dist::binary("airadm", "arm64").display());
    let err = run_fails(world.build(&key, "amd64", &out, &["--binaries-mirror", &server.url(), "--airadm-binary", &wrong]));
    assert!(err.contains(&format!("--airadm-binary {wrong}: is an ELF executable for machine 183, not for amd64")), "{err}");
    let given = format!("amd64={}", static_airadm.display());
    let twice = run_fails(world.build(
        &key,
        "amd64",
        &out,
        &["--binaries-mirror", &server.url(), "--airadm-binary", &given, "--airadm-binary", &wrong],
    ));
    assert!(twice.contains("--airadm-binary amd64= is given twice"), "{twice}");
    let built = run(world.build(&key, "amd64", &out, &["--binaries-mirror", &server.url(), "--airadm-binary", &given]));
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success() && !stderr.contains("dynamically linked"), "{stderr}");
    let bundle = world.bundle(&out, "amd64");
    // A root of our own, hard-linked from the per-machine one (new files only are written in it).
    let old = dist::old_root();
    let root = tempfile::tempdir_in(old.parent().unwrap()).unwrap();
    run_ok(Command::new("cp").arg("-al").arg(old.join(".")).arg(root.path()));
    let put = |from: &Path, to: &str| {
        fs_err::copy(from, root.path().join(to)).unwrap();
    };
    fs_err::create_dir_all(root.path().join("run/host")).unwrap();
    fs_err::create_dir_all(root.path().join("node")).unwrap();
    put(&static_airadm, "usr/local/bin/airadm");
    put(&workspace_bin("airadm"), "usr/local/bin/airadm-glibc");
    put(&bundle, "tmp/bundle.tar.zst");
    put(&public, "tmp/release.pub");
    let ctd = Containerd::start("registry.k8s.io/pause:3.10");
    let sockets = ctd.socket().parent().unwrap().to_path_buf();
    let socket = format!("unix:///run/host/{}", ctd.socket().file_name().unwrap().to_string_lossy());

    // The root is Debian 11's, and the glibc build cannot start there.
    assert!(run_ok(in_root(root.path(), &sockets, &["ldd", "--version"])).lines().next().unwrap().ends_with(" 2.31"));
    let refused = run_fails(in_root(root.path(), &sockets, &["/usr/local/bin/airadm-glibc", "version"]));
    assert!(refused.contains("GLIBC_2.") && refused.contains("not found"), "{refused}");

    let info = version_of(&mut in_root(root.path(), &sockets, &["/usr/local/bin/airadm"]));
    assert_eq!((info["target"].as_str(), info["platform"].as_str()), (Some("x86_64-unknown-linux-musl"), Some("linux/amd64")), "{info}");
    assert_eq!(info["gitCommit"], head().as_str());
    let verify = ["/usr/local/bin/airadm", "verify", "--bundle", "/tmp/bundle.tar.zst", "--trusted-key", "/tmp/release.pub"];
    let said = run_ok(in_root(root.path(), &sockets, &verify));
    assert!(said.contains(&format!(": OK: Kubernetes {NODE_VERSION} linux/amd64, 7 images")), "{said}");
    let import = ["/usr/local/bin/airadm", "images", "import", "--bundle", "/tmp/bundle.tar.zst", "--trusted-key", "/tmp/release.pub"];
    let output = run(in_root(root.path(), &sockets, &import).args(["--cri-socket", &socket]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let names = ctd.ctr_ok(&["images", "ls", "-q"]);
    for image in &manifest(&bundle).images {
        assert!(names.lines().any(|n| n == image.name), "{} missing from {names}", image.name);
    }
    let check = ctd.ctr_ok(&["images", "check"]);
    assert_eq!(check.lines().skip(1).filter(|l| l.contains("complete") && l.trim_end().ends_with("true")).count(), 14, "{check}");
    // The node's binaries, this airadm among them, installed from the bundle there, run there.
    let install = ["/usr/local/bin/airadm", "binaries", "install", "--bundle", "/tmp/bundle.tar.zst", "--trusted-key", "/tmp/release.pub"];
    run_ok(in_root(root.path(), &sockets, &install).args(["--rootfs", "/node"]));
    assert_eq!(fs_err::read(root.path().join("node/usr/local/bin/airadm")).unwrap(), fs_err::read(&static_airadm).unwrap());
    let short = run_ok(in_root(root.path(), &sockets, &["/node/usr/local/bin/airadm", "version", "-o", "short"]));
    assert_eq!(short.trim(), concat!("v", env!("CARGO_PKG_VERSION")));
    let kubelet = run_ok(in_root(root.path(), &sockets, &["/node/usr/local/bin/kubelet", "--version"]));
    assert_eq!(kubelet.trim(), format!("Kubernetes {NODE_VERSION}"));
}

#[test]
fn the_arm64_release_runs_under_qemu_and_verifies_an_arm64_bundle() {
    let qemu = require("qemu-aarch64-static", "qemu-user-static");
    let world = World::new(20_000);
    let (key, public) = world.keygen("release");
    let out = world.path("out");
    run_ok(world.build(&key, "arm64", &out, &[]));
    let bundle = world.bundle(&out, "arm64");
    let arm64 = |program: &str| {
        let mut cmd = Command::new(&qemu);
        cmd.arg(dist::binary(program, "arm64"));
        cmd
    };
    for program in ["airadm", "airbundle"] {
        let info = version_of(&mut arm64(program));
        assert_eq!(
            (info["target"].as_str(), info["platform"].as_str()),
            (Some("aarch64-unknown-linux-musl"), Some("linux/arm64")),
            "{program}: {info}"
        );
        assert_eq!(info["gitCommit"], head().as_str(), "{program}");
    }
    let said = run_ok(arm64("airadm").args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public));
    assert!(said.contains(": OK: Kubernetes v1.31.2 linux/arm64, 7 images"), "{said}");
    // Its checks are real: the bundle with one byte changed, and another key, are refused.
    let tampered = world.path("tampered.tar.zst");
    let mut bytes = fs_err::read(&bundle).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs_err::write(&tampered, bytes).unwrap();
    let err = run_fails(arm64("airadm").args(["verify", "--bundle"]).arg(&tampered).arg("--trusted-key").arg(&public));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (_, other) = world.keygen("other");
    let err = run_fails(arm64("airadm").args(["verify", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&other));
    assert!(err.contains("key"), "{err}");
    // The arm64 airbundle reads what the amd64 one wrote.
    let inspected = run_ok(arm64("airbundle").arg("inspect").arg(&bundle));
    assert!(inspected.contains("platform:   linux/arm64"), "{inspected}");
}

#[test]
fn the_release_binaries_are_static_stripped_under_40_mb_and_their_sums_signed() {
    require("readelf", "binutils");
    require("minisign", "minisign");
    let world = World::new(1000);
    let (key, public) = world.keygen("release");
    let out = world.path("dist");
    dist::build(&out, Some(&key));
    let version = concat!("v", env!("CARGO_PKG_VERSION"));
    let mut names: Vec<String> = fs_err::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let expected: Vec<String> = ["airadm", "airbundle"]
        .iter()
        .flat_map(|p| dist::ARCHES.iter().map(move |a| format!("{p}-{version}-linux-{a}")))
        .chain(["SHA256SUMS".to_owned(), "SHA256SUMS.minisig".to_owned()])
        .collect();
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for name in expected.iter().filter(|n| n.starts_with("air")) {
        let path = out.join(name);
        let size = fs_err::metadata(&path).unwrap().len();
        assert!(size < 40 << 20, "{name}: {size} bytes");
        let headers = run_ok(Command::new("readelf").args(["-lhSW"]).arg(&path));
        let machine = if name.ends_with("amd64") { "Advanced Micro Devices X86-64" } else { "AArch64" };
        assert!(headers.contains(machine), "{name}: {headers}");
        assert!(!headers.contains("INTERP") && !headers.contains("DYNAMIC"), "{name} is dynamically linked: {headers}");
        assert!(!headers.contains(".symtab") && !headers.contains(".debug_"), "{name} is not stripped");
        // No path of this machine's (the registry's sources, the checkout, the target dir).
        let bytes = fs_err::read(&path).unwrap();
        for dir in [registry_src(), workspace_root(), testkit::dist::target_dir()] {
            let needle = format!("{}/", dir.display());
            assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{name} names {needle}");
        }
        if name.ends_with("amd64") {
            let ldd = run(Command::new("ldd").arg(&path));
            let said = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
            assert!(said.contains("not a dynamic executable"), "{name}: {said}");
        }
    }
    // A node checks the installer before trusting it: the signature of the sums, then the sums.
    run_ok(Command::new("minisign").args(["-V", "-m"]).arg(out.join("SHA256SUMS")).arg("-p").arg(&public));
    let sums = run_ok(Command::new("sha256sum").args(["-c", "SHA256SUMS"]).current_dir(&out));
    assert_eq!(sums.lines().filter(|l| l.ends_with(": OK")).count(), 4, "{sums}");
}

/// Where cargo unpacks the registry's crates (`$CARGO_HOME/registry/src`).
fn registry_src() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    home.join("registry/src")
}

/// The checkout this test belongs to.
fn workspace_root() -> PathBuf {
    fs_err::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap()
}
