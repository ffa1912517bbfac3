//! containerd (Debian's, with runc) in a temp dir: own root, state, sockets; CRI plugin on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

/// A running containerd; killed and its directory removed on drop.
pub struct Containerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd with the CRI plugin, overlayfs as CRI snapshotter, `sandbox_image` as the
    /// CRI sandbox image, and waits until it answers.
    pub fn start(sandbox_image: &str) -> Self {
        Self::start_with(sandbox_image, "overlayfs")
    }

    /// [`Containerd::start`] with another CRI snapshotter.
    pub fn start_with(sandbox_image: &str, snapshotter: &str) -> Self {
        let binary = require("containerd", "containerd");
        require("runc", "runc");
        let dir = tempfile::Builder::new().prefix("airadm-containerd-").tempdir().unwrap();
        let d = dir.path().display();
        fs_err::create_dir_all(dir.path().join("cni")).unwrap();
        fs_err::write(
            dir.path().join("config.toml"),
            format!(
                r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"#
            ),
        )
        .unwrap();
        Self::spawn(&binary, dir)
    }

    /// containerd 2 (`bin`: a directory holding `containerd` and its shim, such as the reference
    /// toolchain's) with its defaults but for root, state and sockets in a temp dir.
    pub fn start_v2(bin: &Path) -> Self {
        require("runc", "runc");
        let dir = tempfile::Builder::new().prefix("airadm-containerd-").tempdir().unwrap();
        let d = dir.path().display();
        let config = format!(
            "version = 3\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n[grpc]\n  address = \"{d}/containerd.sock\"\n[ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n"
        );
        fs_err::write(dir.path().join("config.toml"), config).unwrap();
        Self::spawn(&bin.join("containerd"), dir)
    }

    /// Starts `binary` with `dir`'s config.toml and waits until it answers.
    fn spawn(binary: &Path, dir: tempfile::TempDir) -> Self {
        let log = fs_err::File::create(dir.path().join("log")).unwrap().into_parts().0;
        let child = Command::new(binary)
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start containerd");
        let me = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !me.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                fs_err::read_to_string(me.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    /// The gRPC (and CRI) socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    /// Runs `ctr --address SOCKET -n k8s.io ARGS…`.
    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        crate::run(Command::new("ctr").arg("--address").arg(self.socket()).args(["-n", "k8s.io"]).args(args))
    }

    /// stdout of a `ctr` command that must succeed.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(out.status.success(), "ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// containerd's root directory.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The temp dir (fifo and runc dirs for `ctr run` live here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
