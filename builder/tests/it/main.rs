//! airbundle against a real registry (Debian `docker-registry`) seeded with multi-arch images.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth;
mod build;
mod faults;
mod kubeadm;

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::image::{CATALOG_V1_31_2, PushedImage, seed_catalog};
use testkit::{Registry, run_ok};

/// A seeded registry, a signing key and a scratch directory.
pub struct Setup {
    pub registry: Registry,
    pub pushed: Vec<PushedImage>,
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub public: PathBuf,
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    pub fn new() -> Self {
        Self::with_images(CATALOG_V1_31_2)
    }

    pub fn with_images(images: &[(&str, &str)]) -> Self {
        let registry = Registry::start();
        let pushed = seed_catalog(&registry, images, 40_000);
        let dir = tempfile::tempdir().unwrap();
        run_ok(airbundle().args(["keygen", "--output-dir"]).arg(dir.path()).args(["--name", "test"]));
        Self { key: dir.path().join("test.key"), public: dir.path().join("test.pub"), registry, pushed, dir }
    }

    /// `airbundle build` for v1.31.2 from `mirror` into `out`, with `extra` flags.
    pub fn build(&self, mirror: &str, out: &Path, cache: &Path, extra: &[&str]) -> Command {
        self.build_with_key(&self.key, mirror, out, cache, extra)
    }

    /// The same, signing with `key`.
    pub fn build_with_key(&self, key: &Path, mirror: &str, out: &Path, cache: &Path, extra: &[&str]) -> Command {
        let mut cmd = airbundle();
        cmd.args(["build", "--kubernetes-version", "v1.31.2", "--mirror", mirror, "--plain-http", "--quiet", "--signing-key"])
            .arg(key)
            .arg("--output-dir")
            .arg(out)
            .arg("--cache-dir")
            .arg(cache)
            .args(no_binaries_unless_given(extra))
            .args(extra)
            .env("HOME", self.dir.path())
            .env_remove("DOCKER_CONFIG")
            .env_remove("SOURCE_DATE_EPOCH");
        cmd
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `--no-binaries` unless `extra` says where the node binaries come from: these tests pull from a
/// loopback registry only, and dl.k8s.io is not reachable.
pub fn no_binaries_unless_given(extra: &[&str]) -> Option<&'static str> {
    let given = extra.iter().any(|a| a.starts_with("--binaries-") || *a == "--no-binaries");
    (!given).then_some("--no-binaries")
}

pub fn airbundle() -> Command {
    Command::new(env!("CARGO_BIN_EXE_airbundle"))
}

/// The manifest of a bundle, read with the bundle library.
pub fn manifest_of(bundle: &Path) -> bundle::Manifest {
    bundle::reader::read_manifest_unverified(fs_err::File::open(bundle).unwrap()).unwrap()
}
