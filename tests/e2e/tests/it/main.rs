//! End to end across airbundle and airadm, on real components: a seeded registry, the standard
//! tools a user checks a bundle with (zstd, tar, skopeo, minisign), and tampering.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api_phases;
mod apply;
mod binaries;
mod certs_cmds;
mod cluster;
mod config_cmds;
mod corpus;
mod crafted;
mod day2_cmds;
mod import;
mod init;
mod interop;
mod join;
mod real_images;
mod release;
mod reset;
mod retry;
mod swap;
mod tamper;
mod workflow;

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::image::{CATALOG_V1_31_2, PushedImage, seed_catalog};
use testkit::{Registry, run_ok, workspace_bin};

pub fn airbundle() -> Command {
    Command::new(workspace_bin("airbundle"))
}

pub fn airadm() -> Command {
    Command::new(workspace_bin("airadm"))
}

/// A registry seeded with the v1.31.2 images, a key pair and a scratch directory.
pub struct World {
    /// The Kubernetes version bundles are built for.
    pub version: String,
    pub registry: Registry,
    pub pushed: Vec<PushedImage>,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new(unique_layer_size: usize) -> Self {
        Self::of("v1.31.2", CATALOG_V1_31_2, unique_layer_size)
    }

    /// A registry seeded with `catalog`'s test images, the names of Kubernetes `version`.
    pub fn of(version: &str, catalog: &[(&str, &str)], unique_layer_size: usize) -> Self {
        let registry = Registry::start();
        let pushed = seed_catalog(&registry, catalog, unique_layer_size);
        Self { version: version.into(), registry, pushed, dir: tempfile::tempdir().unwrap() }
    }

    /// A registry holding Kubernetes' own images of `version`, made from the reference binaries
    /// (`testkit::kubeimages`), under the names real kubeadm of that version lists.
    pub fn reference(version: &str) -> Self {
        let layout = testkit::kubeimages::layout(version);
        let registry = Registry::start();
        let pushed = layout.push(registry.addr());
        Self { version: version.into(), registry, pushed, dir: tempfile::tempdir().unwrap() }
    }

    /// Where [`World::build`] writes the `arch` bundle in `out`.
    pub fn bundle(&self, out: &Path, arch: &str) -> PathBuf {
        out.join(format!("kubernetes-{}-linux-{arch}.tar.zst", self.version))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `airbundle keygen` into the scratch dir; returns (secret, public).
    pub fn keygen(&self, name: &str) -> (PathBuf, PathBuf) {
        run_ok(airbundle().args(["keygen", "--name", name, "--output-dir"]).arg(self.dir.path()));
        (self.path(&format!("{name}.key")), self.path(&format!("{name}.pub")))
    }

    /// `airbundle build` of the world's version for `arch` signed with `key` into `out`.
    pub fn build(&self, key: &Path, arch: &str, out: &Path, extra: &[&str]) -> Command {
        let mut cmd = airbundle();
        cmd.args([
            "build",
            "--kubernetes-version",
            &self.version,
            "--arch",
            arch,
            "--plain-http",
            "--quiet",
            "--mirror",
            self.registry.addr(),
            "--signing-key",
        ])
        .arg(key)
        .arg("--output-dir")
        .arg(out)
        .arg("--cache-dir")
        .arg(self.path("cache"))
        .args(no_binaries_unless_given(extra))
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("HOME", self.dir.path());
        cmd
    }
}

/// `--no-binaries` unless `extra` says where the node binaries come from: dl.k8s.io is not
/// reachable from the tests (`binaries.rs` serves them from a loopback release server).
pub fn no_binaries_unless_given(extra: &[&str]) -> Option<&'static str> {
    let given = extra.iter().any(|a| a.starts_with("--binaries-") || *a == "--no-binaries");
    (!given).then_some("--no-binaries")
}

/// `airadm images import --bundle B --trusted-key K --cri-socket unix://<ctd> EXTRA…`.
pub fn import_into(bundle: &Path, key: &Path, ctd: &testkit::Containerd, extra: &[&str]) -> Command {
    let mut cmd = airadm();
    cmd.args(["images", "import", "--bundle"])
        .arg(bundle)
        .arg("--trusted-key")
        .arg(key)
        .arg("--cri-socket")
        .arg(format!("unix://{}", ctd.socket().display()))
        .args(extra);
    cmd
}

pub fn bundle_file(out: &Path, arch: &str) -> PathBuf {
    out.join(format!("kubernetes-v1.31.2-linux-{arch}.tar.zst"))
}

/// Path of a workspace binary as a string, for shell pipelines.
pub fn testkit_bin(name: &str) -> String {
    workspace_bin(name).display().to_string()
}
