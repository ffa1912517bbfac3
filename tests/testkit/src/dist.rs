//! The release binaries and where they are proven to run: `.ci/dist.sh` builds the static,
//! stripped `airadm` and `airbundle` of both architectures into `target/dist` (once per test
//! process; cargo finds unchanged sources already built), and `tests/reference/oldroot.sh` makes
//! the Debian 11 root (once per machine).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::run_ok;

/// The architectures `.ci/dist.sh` builds.
pub const ARCHES: [&str; 2] = ["amd64", "arm64"];

/// The workspace's target directory (the test executable is in `target/<profile>/deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// `.ci/dist.sh --out DIR ARCHES…`, with its own cargo target directory (`target/dist-build`, so
/// that it never waits on the test build's lock) and, across test processes, a file lock.
pub fn build(out: &Path, signing_key: Option<&Path>) {
    let target = target_dir();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/dist.sh");
    let mut cmd = Command::new("flock");
    cmd.arg(target.join("dist.lock")).arg(&script).arg("--out").arg(out).args(ARCHES).env("CARGO_TARGET_DIR", target.join("dist-build"));
    if let Some(key) = signing_key {
        cmd.arg("--signing-key").arg(key);
    }
    run_ok(cmd);
}

/// The directory holding this tree's release binaries, built first.
pub fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = target_dir().join("dist");
        build(&out, None);
        out
    })
}

/// `program` (`airadm`, `airbundle`) of the release for linux/`arch`, built first.
pub fn binary(program: &str, arch: &str) -> PathBuf {
    let path = dir().join(format!("{program}-v{}-linux-{arch}", env!("CARGO_PKG_VERSION")));
    assert!(path.is_file(), ".ci/dist.sh did not write {}", path.display());
    path
}

/// The Debian 11 (bullseye, glibc 2.31) root, made once per machine.
pub fn old_root() -> PathBuf {
    crate::require("debootstrap", "debootstrap");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reference/oldroot.sh");
    let out = run_ok(Command::new("bash").arg(script).arg("bullseye"));
    PathBuf::from(out.lines().last().expect("oldroot.sh prints the root").trim())
}
