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
        Self::start_with("")
    }

    /// Starts a registry whose config ends with `extra` (an `auth:` section, say).
    fn start_with(extra: &str) -> Self {
        let binary = require("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new().prefix("airadm-registry-").tempdir().unwrap();
        let config = dir.path().join("config.yml");
        fs_err::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: info, accesslog: {{disabled: true}}}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: \"127.0.0.1:0\", secret: test}}\n{extra}",
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

/// A registry behind Bearer-token auth (what registry.k8s.io and Docker Hub use), with its token
/// server (`tokserver.py`, keys made with openssl). `user`/`pass` may push and pull; anonymous
/// clients may pull only when `anonymous_pull`.
pub struct TokenRegistry {
    pub registry: Registry,
    token_server: Child,
    _stdout: std::process::ChildStdout,
    _keys: tempfile::TempDir,
    pub user: &'static str,
    pub pass: &'static str,
}

impl TokenRegistry {
    pub fn start(anonymous_pull: bool) -> Self {
        require("openssl", "openssl");
        let python = require("python3", "python3");
        let keys = tempfile::Builder::new().prefix("airadm-tokens-").tempdir().unwrap();
        let (key, cert) = (keys.path().join("token.key"), keys.path().join("token.crt"));
        crate::run_ok(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=airadm-test-tokens", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tokserver.py");
        let (user, pass) = ("tester", "s3cret");
        let mut token_server = Command::new(python)
            .arg(script)
            .args([port.to_string().as_str()])
            .arg(&key)
            .arg(&cert)
            .args([user, pass, if anonymous_pull { "yes" } else { "no" }])
            .stdout(Stdio::piped())
            .stderr(fs_err::File::create(keys.path().join("tokserver.log")).unwrap().into_parts().0)
            .spawn()
            .expect("start tokserver.py");
        // Keep the pipe open while the server lives: it must not die of a broken pipe.
        let mut stdout = token_server.stdout.take().unwrap();
        let mut ready = [0u8; 6];
        stdout.read_exact(&mut ready).expect("tokserver.py did not start");
        let status = http_status(&format!("127.0.0.1:{port}"), "/token?service=x");
        assert_eq!(
            status,
            200,
            "token server on port {port} answers {status}: {}",
            fs_err::read_to_string(keys.path().join("tokserver.log")).unwrap_or_default()
        );
        let auth = format!(
            "auth:\n  token:\n    realm: http://127.0.0.1:{port}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
            cert.display()
        );
        Self { registry: Registry::start_with(&auth), token_server, _stdout: stdout, _keys: keys, user, pass }
    }

    /// `user:pass`, as skopeo's `--dest-creds` takes it.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.user, self.pass)
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        let _ = self.token_server.kill();
        let _ = self.token_server.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP status of an anonymous `GET http://addr/path`.
pub fn http_status(addr: &str, path: &str) -> u16 {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}
