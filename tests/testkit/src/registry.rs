//! The real distribution registry (Debian `docker-registry`), plain HTTP on a free loopback port.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require;

/// A running registry; killed and removed on drop.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
}

impl Registry {
    /// Starts a registry with its own storage directory and waits until it answers.
    pub fn start() -> Self {
        let binary = require("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new().prefix("airadm-registry-").tempdir().unwrap();
        let config = dir.path().join("config.yml");
        fs_err::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: info, accesslog: {{disabled: true}}}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: \"127.0.0.1:0\", secret: test}}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("log");
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(fs_err::File::create(&log).unwrap().into_parts().0)
            .spawn()
            .expect("start docker-registry");
        let addr = wait_for_listen(&log);
        Self { child, dir, addr }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Where the registry keeps a blob's bytes (to make it lie about them).
    pub fn blob_data_path(&self, hex: &str) -> PathBuf {
        self.dir.path().join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// The storage root.
    pub fn storage(&self) -> &Path {
        self.dir.path()
    }
}

fn wait_for_listen(log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut text = String::new();
        if let Ok(mut f) = fs_err::File::open(log) {
            let _ = f.read_to_string(&mut text);
        }
        if let Some(pos) = text.find("listening on 127.0.0.1:") {
            let rest = &text[pos + "listening on ".len()..];
            let addr: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
            return addr;
        }
        assert!(Instant::now() < deadline, "docker-registry did not start:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
