//! The init system a node lacks, for its kubelet: the harness runs the kubelet as systemd would
//! run the unit kubeadm's packages (or `airadm init phase binaries`) write — the last
//! `ExecStart=` of `/etc/systemd/system/kubelet.service` and its `kubelet.service.d/*.conf`
//! drop-ins, with their `Environment=` and `EnvironmentFile=` — once kubeadm's kubelet-start has
//! written `/var/lib/kubelet/config.yaml` (before that systemd's unit would only crash-loop).
//! It restarts the kubelet when it exits (the unit's `Restart=always`) and when kubelet-start
//! rewrites its config or flags (kubeadm's `systemctl restart kubelet`, which finds no systemd).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use crate::node::{Node, enter};

/// The unit and its drop-ins, as the node sees them.
pub const UNIT: &str = "/etc/systemd/system/kubelet.service";
/// What the harness watches: a change restarts the kubelet.
const WATCHED: &[&str] = &["/var/lib/kubelet/config.yaml", "/var/lib/kubelet/kubeadm-flags.env"];
const POLL: Duration = Duration::from_millis(200);
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// The running harness; stops the kubelet when dropped.
pub struct Harness {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Node {
    /// Plays the init system for this node's kubelet from now on (logs: `log/kubelet.log`).
    pub fn start_kubelet(&mut self) {
        let stop = Arc::new(AtomicBool::new(false));
        let unit =
            Unit { holder: self.holder_pid(), etc: self.dir.join("overlay/etc/upper"), kubelet_dir: self.host_path("/var/lib/kubelet") };
        let log = self.dir.join("log/kubelet.log");
        let flag = stop.clone();
        let thread = std::thread::spawn(move || supervise(&unit, &log, &flag));
        self.kubelet = Some(Harness { stop, thread: Some(thread) });
    }

    /// Stops the kubelet, as `systemctl stop kubelet` would.
    pub fn stop_kubelet(&mut self) {
        self.kubelet.take();
    }
}

struct Unit {
    holder: u32,
    /// The overlay's upper `/etc` (where the unit files are written).
    etc: PathBuf,
    /// The node's `/var/lib/kubelet`, as the host sees it.
    kubelet_dir: PathBuf,
}

impl Unit {
    fn watched(&self) -> Vec<Option<SystemTime>> {
        WATCHED
            .iter()
            .map(|f| std::fs::metadata(self.kubelet_dir.join(Path::new(f).file_name().unwrap())).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// The shell command systemd's unit amounts to, once the unit and the config exist.
    fn script(&self) -> Option<String> {
        let unit_file = self.etc.join(UNIT.trim_start_matches("/etc/"));
        let mut files = vec![fs_err::read_to_string(&unit_file).ok()?];
        let drop_ins = unit_file.with_extension("service.d");
        let mut names: Vec<PathBuf> =
            std::fs::read_dir(&drop_ins).map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect()).unwrap_or_default();
        names.sort();
        files.extend(names.iter().filter(|p| p.extension().is_some_and(|e| e == "conf")).filter_map(|p| fs_err::read_to_string(p).ok()));
        self.watched()[0]?;
        Some(systemd_script(&files))
    }
}

/// `set -a`, each `Environment=` as an assignment, each `EnvironmentFile=` sourced (a leading
/// `-`: only if it exists), then `exec` of the last `ExecStart=` (an empty one resets it).
pub fn systemd_script(files: &[String]) -> String {
    let mut env = String::from("set -a\n");
    let mut exec = String::new();
    for line in files.iter().flat_map(|f| f.lines()).map(str::trim) {
        if let Some(value) = line.strip_prefix("Environment=") {
            let value = value.trim_matches('"');
            if let Some((name, value)) = value.split_once('=') {
                env += &format!("{name}='{}'\n", value.replace('\'', r"'\''"));
            }
        } else if let Some(file) = line.strip_prefix("EnvironmentFile=") {
            let (optional, file) = file.strip_prefix('-').map_or((false, file), |f| (true, f));
            env += &if optional { format!("[ -r {file} ] && . {file}\n") } else { format!(". {file}\n") };
        } else if let Some(command) = line.strip_prefix("ExecStart=") {
            exec = command.to_owned();
        }
    }
    format!("{env}set +a\nexec {exec}\n")
}

fn supervise(unit: &Unit, log: &Path, stop: &AtomicBool) {
    let mut running: Option<(Child, Vec<Option<SystemTime>>)> = None;
    let mut next_start = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if let Some((child, started_with)) = running.as_mut() {
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            let changed = *started_with != unit.watched();
            if exited || changed {
                let _ = child.kill();
                let status = child.wait().ok();
                append(
                    log,
                    &format!("harness: kubelet {} ({status:?}); starting it again\n", if changed { "config changed" } else { "exited" }),
                );
                running = None;
                next_start = std::time::Instant::now() + if changed { Duration::ZERO } else { RESTART_AFTER };
            }
        } else if std::time::Instant::now() >= next_start
            && let Some(script) = unit.script()
        {
            let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
            let watched = unit.watched();
            let child = enter(unit.holder, "sh")
                .args(["-c", &script])
                .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn();
            match child {
                Ok(child) => running = Some((child, watched)),
                Err(e) => append(log, &format!("harness: could not start the kubelet: {e}\n")),
            }
        }
        std::thread::sleep(POLL);
    }
    if let Some((mut child, _)) = running {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn append(log: &Path, text: &str) {
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = std::io::Write::write_all(&mut file, text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_last_exec_start_with_the_environment_of_every_file() {
        let unit = "[Service]\nExecStart=/usr/local/bin/kubelet\nRestart=always\n".to_owned();
        let drop_in = "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/b --kubeconfig=/k\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_KUBEADM_ARGS\n".to_owned();
        let script = super::systemd_script(&[unit, drop_in]);
        assert_eq!(
            script,
            "set -a\nKUBELET_KUBECONFIG_ARGS='--bootstrap-kubeconfig=/b --kubeconfig=/k'\n[ -r /var/lib/kubelet/kubeadm-flags.env ] && . /var/lib/kubelet/kubeadm-flags.env\nset +a\nexec /usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_KUBEADM_ARGS\n"
        );
    }
}
