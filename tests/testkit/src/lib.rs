//! Real components for airadm's tests, each in its own temp dir on 127.0.0.1, stopped on drop:
//! the `docker-registry` daemon, test images pushed with `skopeo`, a fault-injecting HTTP proxy,
//! and helpers to run the CLIs (`minisign`, `zstd`, `tar`, `skopeo`) and our own binaries.
//! A missing tool fails the test with the Debian package to install; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr, missing_docs)]

pub mod cluster;
pub mod containerd;
pub mod controlplane;
pub mod dist;
pub mod docker;
pub mod golden;
pub mod image;
pub mod kubeimages;
pub mod kubelet;
pub mod module;
pub mod node;
pub mod oci_tree;
pub mod proxy;
pub mod rawtar;
pub mod reference;
pub mod registry;
pub mod releases;

use std::borrow::BorrowMut;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use containerd::Containerd;
pub use docker::Docker;
pub use image::{Layer, TestImage, seed_catalog, seed_catalog_as, seed_catalog_at, seed_realistic_at};
pub use proxy::{Fault, FaultProxy};
pub use registry::{Registry, TokenRegistry};

/// Panics with an install hint unless `program` is on PATH.
pub fn require(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{program}` is not installed: apt-get install {package} (or run .ci/deps.sh)"))
}

/// Path of one of the workspace's binaries (`airbundle`, `airadm`), built by cargo before tests.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(name);
    assert!(bin.is_file(), "`{}` is missing: run `cargo build --workspace --bins` before the tests", bin.display());
    bin
}

/// Runs a command, returning its output; panics if it cannot start.
pub fn run(mut cmd: impl BorrowMut<Command>) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Every path below `dir` (directories and what they hold, depth first; symlinks not followed),
/// none when `dir` does not exist.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = fs_err::read_dir(dir) else { return vec![] };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            let below = if e.file_type().is_ok_and(|t| t.is_dir()) { walk(&path) } else { vec![] };
            std::iter::once(path).chain(below)
        })
        .collect()
}

/// Runs a command and panics with its stderr unless it succeeds; returns stdout.
pub fn run_ok(mut cmd: impl BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = run(&mut *cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command expected to fail; returns its stderr.
pub fn run_fails(mut cmd: impl BorrowMut<Command>) -> String {
    let cmd = cmd.borrow_mut();
    let out = run(&mut *cmd);
    assert!(!out.status.success(), "{cmd:?} unexpectedly succeeded:\nstdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A minisign key pair made by the real `minisign` CLI (`-W`: no password).
pub struct CliKeyPair {
    pub secret: PathBuf,
    pub public: PathBuf,
}

/// Generates a key pair with `minisign -G -W` in `dir`.
pub fn minisign_keygen(dir: &Path, name: &str) -> CliKeyPair {
    let minisign = require("minisign", "minisign");
    let secret = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    run_ok(Command::new(minisign).args(["-G", "-W", "-f", "-p"]).arg(&public).arg("-s").arg(&secret).stdin(std::process::Stdio::null()));
    CliKeyPair { secret, public }
}

/// Lists the entries of a `.tar.zst` with `zstd -dc | tar t`.
pub fn tar_listing(bundle: &Path) -> Vec<String> {
    require("zstd", "zstd");
    require("tar", "tar");
    let out = run_ok(Command::new("sh").arg("-c").arg(format!("zstd -dc '{}' | tar -t", bundle.display())));
    out.lines().map(str::to_owned).collect()
}

/// Extracts a `.tar.zst` into `dir` with `zstd -dc | tar x`.
pub fn tar_extract(bundle: &Path, dir: &Path) {
    fs_err::create_dir_all(dir).unwrap();
    run_ok(Command::new("sh").arg("-c").arg(format!("zstd -dc '{}' | tar -x -C '{}'", bundle.display(), dir.display())));
}
