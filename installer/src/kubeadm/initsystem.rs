//! kubeadm's `TryStartKubelet`, `TryStopKubelet` and `TryRestartKubelet`
//! (phases/kubelet/kubelet.go) over its init-system detection (util/initsystem): `systemctl` on
//! the PATH is systemd, `rc-service` OpenRC; with neither, kubeadm says so and goes on. Under
//! `--rootfs` kubeadm has chrooted, so it is the root's PATH that counts.

use std::path::Path;
use std::process::{Command, Output};

use super::files::Root;

/// What kubeadm asks of the kubelet service, and says when it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kubelet {
    /// `TryStartKubelet` (end of kubelet-start).
    Start,
    /// `TryStopKubelet` (start of kubelet-start).
    Stop,
    /// `TryRestartKubelet` (kubelet-finalize).
    Restart,
}

impl Kubelet {
    fn no_init_system(self) -> &'static str {
        match self {
            Self::Start => "[kubelet-start] No supported init system detected, won't make sure the kubelet is running properly.",
            _ => {
                "[kubelet-start] No supported init system detected, won't make sure the kubelet not running for a short period of time while setting up configuration for it."
            }
        }
    }

    fn no_service(self) -> &'static str {
        match self {
            Self::Start => "[kubelet-start] Couldn't detect a kubelet service, can't make sure the kubelet is running properly.",
            _ => {
                "[kubelet-start] Couldn't detect a kubelet service, can't make sure the kubelet not running for a short period of time while setting up configuration for it."
            }
        }
    }
}

/// The directories kubeadm's `exec.LookPath` searches: this process's PATH.
fn path_dirs() -> Vec<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect()
}

/// Whether `program` is on the PATH as seen inside `root`.
fn on_path(root: &Root, program: &str) -> bool {
    path_dirs().iter().any(|dir| root.dir().join(dir.strip_prefix("/").unwrap_or(dir)).join(program).is_file())
}

/// Asks the init system to `what` the kubelet, as kubeadm does; the lines kubeadm prints.
pub fn kubelet(root: &Root, what: Kubelet) -> Vec<String> {
    let (systemd, openrc) = (on_path(root, "systemctl"), on_path(root, "rc-service"));
    if !systemd && !openrc {
        return vec![what.no_init_system().into()];
    }
    if root.dir() != Path::new("/") {
        return vec![format!(
            "[kubelet-start] Files written under --rootfs {}: not asking its init system to {} the kubelet (do it inside that root)",
            root.dir().display(),
            match what {
                Kubelet::Start => "start",
                Kubelet::Stop => "stop",
                Kubelet::Restart => "restart",
            }
        )];
    }
    // ServiceRestart for Start and Restart, ServiceStop for Stop.
    let verb = if what == Kubelet::Stop { "stop" } else { "restart" };
    if systemd {
        with(what, |args| Command::new("systemctl").args(args).output(), &[&["status", "kubelet"], &["daemon-reload"], &[verb, "kubelet"]])
    } else {
        with(what, |args| Command::new("rc-service").args(args).output(), &[&["kubelet", "status"], &["kubelet", verb]])
    }
}

/// After the kubelet's unit is written (`binaries`): `systemctl daemon-reload` and `systemctl
/// enable kubelet` where systemd runs; with no init system, or under `--rootfs`, it is said.
pub fn enable_kubelet(root: &Root) -> Vec<String> {
    if !on_path(root, "systemctl") {
        return vec!["[binaries] No systemd detected: the kubelet unit is written but not enabled; have the node's init system run the kubelet as the unit and drop-in say".into()];
    }
    if root.dir() != Path::new("/") {
        return vec![format!(
            "[binaries] Files written under --rootfs {}: run `systemctl daemon-reload && systemctl enable kubelet` inside that root",
            root.dir().display()
        )];
    }
    let mut lines = Vec::new();
    for args in [&["daemon-reload"][..], &["enable", "kubelet"]] {
        match Command::new("systemctl").args(args).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                lines.push(format!("[binaries] WARNING: systemctl {} failed: {}: {said}", args.join(" "), out.status));
                break;
            }
            Err(e) => {
                lines.push(format!("[binaries] WARNING: failed to run systemctl {}: {e}", args.join(" ")));
                break;
            }
        }
    }
    if lines.is_empty() {
        lines.push("[binaries] Enabled the kubelet service (systemctl enable kubelet)".into());
    }
    lines
}

/// reset's `ServiceStop("kubelet")` (cmd/phases/reset/cleanupnode.go): the lines kubeadm
/// prints, and apart the warnings it logs; with no init system, or under `--rootfs`, it is said
/// and reset goes on.
pub fn stop_kubelet_for_reset(root: &Root) -> (Vec<String>, Vec<String>) {
    let manually = "[reset] Please ensure kubelet is stopped manually".to_owned();
    let (systemd, openrc) = (on_path(root, "systemctl"), on_path(root, "rc-service"));
    if !systemd && !openrc {
        let unable = "[reset] The kubelet service could not be stopped by kubeadm. Unable to detect a supported init system!";
        return (Vec::new(), vec![unable.into(), manually]);
    }
    if root.dir() != Path::new("/") {
        let said = format!(
            "[reset] Files under --rootfs {}: stop the kubelet inside that root (not asking its init system)",
            root.dir().display()
        );
        return (vec![said], Vec::new());
    }
    let said = vec!["[reset] Stopping the kubelet service".to_owned()];
    let out = if systemd {
        Command::new("systemctl").args(["stop", "kubelet"]).output()
    } else {
        Command::new("rc-service").args(["kubelet", "stop"]).output()
    };
    let failed = match out {
        Ok(out) if out.status.success() => return (said, Vec::new()),
        Ok(out) => format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => e.to_string(),
    };
    (said, vec![format!("[reset] The kubelet service could not be stopped by kubeadm: [{failed}]"), manually])
}

/// The calls behind `kubelet`, through `run` (a parameter so that failures can be tested):
/// `status` first (a missing unit is said, not fatal), then systemd's `daemon-reload` and, only
/// when that worked, the verb. kubeadm does not stop on a failure: it warns, naming the step.
fn with(what: Kubelet, run: impl Fn(&[&str]) -> std::io::Result<Output>, calls: &[&[&str]]) -> Vec<String> {
    let mut lines = Vec::new();
    let (status, steps) = calls.split_first().expect("a status call");
    // kubeadm's ServiceExists: `systemctl status kubelet` saying `Loaded: not-found`.
    if let Ok(out) = run(status)
        && String::from_utf8_lossy(&out.stdout).contains("Loaded: not-found")
    {
        lines.push(what.no_service().into());
    }
    let step = |args: &[&str]| match run(args) {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let failed = match args {
                ["daemon-reload"] => "failed to reload systemd".to_owned(),
                _ => format!("{} failed", args.join(" ")),
            };
            let said = stderr.trim();
            Err(if said.is_empty() { format!("{failed}: {}", out.status) } else { format!("{failed}: {}: {said}", out.status) })
        }
        Err(e) => Err(format!("failed to run {}: {e}", args.join(" "))),
    };
    let (reload, verb) = match steps {
        [reload, verb] => (Some(*reload), *verb),
        [verb] => (None, *verb),
        _ => return lines,
    };
    let done = reload.map_or(Ok(()), step).and_then(|()| step(verb));
    if let Err(e) = done {
        match what {
            Kubelet::Start => {
                lines.push(format!("[kubelet-start] WARNING: unable to start the kubelet service: [{e}]"));
                lines.push("[kubelet-start] Please ensure kubelet is reloaded and running manually.".into());
            }
            Kubelet::Stop => lines.push(format!("[kubelet-start] WARNING: unable to stop the kubelet service momentarily: [{e}]")),
            Kubelet::Restart => lines.push(format!("[kubelet-start] WARNING: unable to restart the kubelet service momentarily: [{e}]")),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::{Kubelet, with};

    fn exited(code: i32, stdout: &str, stderr: &str) -> std::io::Result<std::process::Output> {
        use std::os::unix::process::ExitStatusExt as _;
        Ok(std::process::Output { status: std::process::ExitStatus::from_raw(code << 8), stdout: stdout.into(), stderr: stderr.into() })
    }

    const SYSTEMD: &[&[&str]] = &[&["status", "kubelet"], &["daemon-reload"], &["restart", "kubelet"]];

    #[test]
    fn a_failed_daemon_reload_is_kubeadms_warning_and_no_restart_is_tried() {
        let calls = std::cell::RefCell::new(Vec::new());
        let lines = with(
            Kubelet::Start,
            |args| {
                calls.borrow_mut().push(args.join(" "));
                if args[0] == "status" { exited(0, "", "") } else { exited(1, "", "Failed to reload daemon: Access denied\n") }
            },
            SYSTEMD,
        );
        assert_eq!(
            lines,
            [
                "[kubelet-start] WARNING: unable to start the kubelet service: [failed to reload systemd: exit status: 1: Failed to reload daemon: Access denied]",
                "[kubelet-start] Please ensure kubelet is reloaded and running manually.",
            ]
        );
        assert_eq!(*calls.borrow(), ["status kubelet", "daemon-reload"], "kubeadm does not restart after a failed reload");
    }

    #[test]
    fn daemon_reload_then_the_verb_each_reported_and_a_missing_unit_said() {
        let calls = std::cell::RefCell::new(Vec::new());
        let lines = with(
            Kubelet::Restart,
            |args| {
                calls.borrow_mut().push(args.join(" "));
                match args[0] {
                    "status" => exited(4, "  Loaded: not-found (Reason: Unit kubelet.service not found.)", ""),
                    "daemon-reload" => exited(0, "", ""),
                    _ => exited(5, "", ""),
                }
            },
            SYSTEMD,
        );
        assert_eq!(*calls.borrow(), ["status kubelet", "daemon-reload", "restart kubelet"]);
        assert_eq!(
            lines,
            [
                "[kubelet-start] Couldn't detect a kubelet service, can't make sure the kubelet not running for a short period of time while setting up configuration for it.",
                "[kubelet-start] WARNING: unable to restart the kubelet service momentarily: [restart kubelet failed: exit status: 5]",
            ]
        );
        let lines = with(Kubelet::Stop, |_| Err(std::io::Error::from(std::io::ErrorKind::NotFound)), SYSTEMD);
        assert_eq!(
            lines,
            ["[kubelet-start] WARNING: unable to stop the kubelet service momentarily: [failed to run daemon-reload: entity not found]"]
        );
        assert!(with(Kubelet::Start, |_| exited(0, "", ""), SYSTEMD).is_empty());
    }

    #[test]
    fn no_init_system_in_the_root_is_kubeadms_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = super::Root::new(dir.path());
        assert_eq!(
            super::kubelet(&root, Kubelet::Start),
            ["[kubelet-start] No supported init system detected, won't make sure the kubelet is running properly."]
        );
        assert!(
            super::kubelet(&root, Kubelet::Restart)[0]
                .ends_with("won't make sure the kubelet not running for a short period of time while setting up configuration for it.")
        );
    }
}
