//! Debian's Docker Engine (docker.io) in a temp dir, for the cri-dockerd path: own data root,
//! exec root and socket; no iptables, no bridge, vfs storage (no mounts left behind).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

/// A running dockerd; stopped (SIGTERM, so it stops its own containerd) on drop.
pub struct Docker {
    child: Child,
    dir: tempfile::TempDir,
}

impl Docker {
    pub fn start() -> Self {
        let dockerd = require("dockerd", "docker.io");
        let dir = tempfile::Builder::new().prefix("airadm-docker-").tempdir().unwrap();
        let d = dir.path();
        let log = fs_err::File::create(d.join("log")).unwrap().into_parts().0;
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver", "vfs"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let me = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !me.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                fs_err::read_to_string(me.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    /// The Engine API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Runs `docker -H unix://SOCKET ARGS…`.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        crate::run(Command::new(require("docker", "docker.io")).arg("-H").arg(format!("unix://{}", self.socket().display())).args(args))
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
