//! What version an existing binary says it is, for the report when it is kept or replaced:
//! each tool's own version command, given a few seconds.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bundle::manifest::{Binary, BinaryKind};

use crate::kubeadm::files::Root;

/// How long a version command may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The arguments that make `binary` print its version.
fn args(binary: &Binary) -> &'static [&'static str] {
    match (binary.kind, binary.name.as_str()) {
        (BinaryKind::Kubernetes, "kubeadm") => &["version", "-o", "short"],
        (BinaryKind::Kubernetes, "kubectl") => &["version", "--client"],
        (BinaryKind::Kubernetes | BinaryKind::Crictl, _) => &["--version"],
        (BinaryKind::Airadm, _) => &["--version"],
        // A CNI plugin run without CNI_COMMAND prints "CNI NAME plugin vX.Y.Z" on stderr.
        (BinaryKind::CniPlugin, _) => &[],
    }
}

/// The first line the existing file at node path `path` prints about its version, if any.
pub(super) fn of(root: &Root, path: &str, binary: &Binary) -> Option<String> {
    let host = root.path(path).ok()?;
    let mut child = Command::new(&host)
        .args(args(binary))
        .env_remove("CNI_COMMAND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < TIMEOUT => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    for pipe in [child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read>), child.stderr.take().map(|p| Box::new(p) as _)]
        .into_iter()
        .flatten()
    {
        let mut out = String::new();
        let _ = pipe.take(4096).read_to_string(&mut out);
        text.push_str(&out);
    }
    text.lines().map(str::trim).find(|l| l.contains('v') && l.chars().any(|c| c.is_ascii_digit())).map(str::to_owned)
}
