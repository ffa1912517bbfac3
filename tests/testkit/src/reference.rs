//! The reference toolchain: Kubernetes' own binaries built from the Go module proxy by
//! `tests/reference/build.sh` (cached per machine), and real kubeadm run on a test's input so
//! that its output can be compared with ours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The Kubernetes release of each minor the differential tests build and run: the newest patch
/// the module proxy serves whole (v1.31.14's k8s.io/kube-proxy v0.31.14 is refused by it, so v1.31
/// is v1.31.0). kubeadm renders by its own version (kubeadm v1.34 writes named probe
/// ports even for a v1.33 control plane), so a case is compared with kubeadm of its own minor.
pub const RELEASES: &[&str] = &["v1.31.0", "v1.32.13", "v1.33.13", "v1.34.4", "v1.35.4", "v1.36.3", "v1.37.2"];

/// The reference release of minor `1.MINOR`.
pub fn release(minor: u32) -> &'static str {
    let prefix = format!("v1.{minor}.");
    RELEASES.iter().find(|r| r.starts_with(&prefix)).unwrap_or_else(|| panic!("no reference release of v1.{minor}: add it to RELEASES"))
}

/// Builds (once per machine) and returns the reference `command` of Kubernetes `version`.
pub fn binary(version: &str, command: &str) -> PathBuf {
    toolchain(version, &[command]).join(command)
}

/// Builds (once per machine) the reference `commands` of Kubernetes `version` (see
/// `tests/reference/build.sh`, e.g. `kube-apiserver`, `etcd`, `pause`) and returns their `bin/`.
pub fn toolchain(version: &str, commands: &[&str]) -> PathBuf {
    // One build at a time: tests run in parallel threads, the Go build cache copes, but two
    // builds of the same command would race on the output file.
    static BUILD: Mutex<()> = Mutex::new(());
    let _guard = BUILD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    crate::require("go", "golang (Go 1.24 or later, with the module proxy)");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reference/build.sh");
    let out = crate::run_ok(Command::new("bash").arg(&script).arg(version).args(commands));
    let bin = PathBuf::from(out.lines().last().expect("build.sh prints the cache directory").trim()).join("bin");
    for command in commands.iter().filter(|c| **c != "skeleton") {
        assert!(bin.join(command).is_file(), "{} did not produce {}", script.display(), bin.join(command).display());
    }
    bin
}

/// What `build.sh` recorded beside `bin` (`versions`: NAME=VERSION lines, e.g. `crictl`, `cni`,
/// `etcd`: the versions it took where kubeadm's own were not served).
pub fn versions(bin: &Path) -> BTreeMap<String, String> {
    let text = fs_err::read_to_string(bin.join("../versions")).expect("build.sh writes bin/../versions");
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// The zero values of the component configurations kubeadm `version` marshals, as its Go types
/// print them (`tests/reference/skeleton/skeleton.go`, run in the wrapper module of `version`).
pub fn skeleton(version: &str) -> serde_json::Value {
    let path = toolchain(version, &["skeleton"]).join("../skeleton.json");
    serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap()
}

/// What real kubeadm wrote for one dry-run phase.
pub struct DryRun {
    /// File name → contents of every file kubeadm wrote into its dry-run directory.
    pub files: BTreeMap<String, String>,
    /// Its standard output.
    pub stdout: String,
}

/// A fresh directory to chroot real kubeadm into: the binary at `/kubeadm`, `config` at
/// `/config.yaml`, the (empty) `host_dirs` (host paths kubeadm probes, e.g. CA certificate
/// directories) so that what kubeadm sees of the host is what the test chose, and `with_dir`'s
/// files in `/` (kubeadm's working directory there), for a config's relative paths such as
/// `patches.directory`.
pub fn kubeadm_root(kubeadm: &Path, config: &str, host_dirs: &[String], with_dir: Option<&Path>) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    if let Some(dir) = with_dir {
        copy_tree(dir, root.path());
    }
    for dir in host_dirs.iter().map(String::as_str).chain(["/tmp"]) {
        fs_err::create_dir_all(root.path().join(dir.trim_start_matches('/'))).unwrap();
    }
    fs_err::write(root.path().join("config.yaml"), config).unwrap();
    // Hard link when on the same file system (the cache usually is), else copy.
    let inside = root.path().join("kubeadm");
    if fs_err::hard_link(kubeadm, &inside).is_err() {
        fs_err::copy(kubeadm, &inside).unwrap();
    }
    root
}

/// Runs `/kubeadm ARGS…` chrooted into `root` (see [`kubeadm_root`]) with `env` as its whole
/// environment besides `PATH=/` (so it finds no init system); returns its standard output.
pub fn kubeadm_in(root: &Path, args: &[&str], env: &[(String, String)]) -> String {
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(root).arg("/kubeadm").args(args).env_clear().env("PATH", "/");
    for (name, value) in env {
        cmd.env(name, value);
    }
    crate::run_ok(&mut cmd)
}

/// Runs `kubeadm init phase PHASE… --config CONFIG --dry-run` in a [`kubeadm_root`] and
/// collects what it wrote into its dry-run directory.
pub fn kubeadm_init_phase(
    kubeadm: &Path,
    phase: &[&str],
    config: &str,
    host_dirs: &[String],
    env: &[(String, String)],
    with_dir: Option<&Path>,
) -> DryRun {
    let root = kubeadm_root(kubeadm, config, host_dirs, with_dir);
    fs_err::create_dir_all(root.path().join("out")).unwrap();
    let mut args = vec!["init", "phase"];
    args.extend(phase);
    args.extend(["--config", "/config.yaml", "--dry-run"]);
    let mut env = env.to_vec();
    env.push(("KUBEADM_INIT_DRYRUN_DIR".into(), "/out".into()));
    let stdout = kubeadm_in(root.path(), &args, &env);
    // kubeadm v1.31 makes a temp dir of its own below KUBEADM_INIT_DRYRUN_DIR: walk the tree.
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.path().join("out")];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.insert(path.file_name().unwrap().to_string_lossy().into_owned(), fs_err::read_to_string(&path).unwrap());
            }
        }
    }
    DryRun { files, stdout }
}

/// Copies the tree `from` into `to` (regular files and directories).
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `config` with `kubernetesVersion: VERSION` set in its ClusterConfiguration (one is appended,
/// of the InitConfiguration's apiVersion, when there is none): kubeadm takes the version from the
/// config file, airadm from the bundle.
pub fn with_kubernetes_version(config: &str, version: &str) -> String {
    let docs: Vec<&str> = config.split("\n---\n").collect();
    let mut out: Vec<String> = Vec::new();
    let mut found = false;
    for doc in &docs {
        if doc.lines().any(|l| l == "kind: ClusterConfiguration") {
            found = true;
            let lines: Vec<&str> = doc.lines().filter(|l| !l.starts_with("kubernetesVersion:")).collect();
            out.push(format!("{}\nkubernetesVersion: {version}", lines.join("\n")));
        } else {
            out.push((*doc).to_owned());
        }
    }
    if !found {
        let api = config.lines().find_map(|l| l.strip_prefix("apiVersion: kubeadm.k8s.io/")).unwrap_or("v1beta4");
        out.push(format!("apiVersion: kubeadm.k8s.io/{api}\nkind: ClusterConfiguration\nkubernetesVersion: {version}"));
    }
    out.join("\n---\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::with_kubernetes_version;

    #[test]
    fn the_version_goes_into_the_cluster_configuration() {
        let init = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration";
        assert_eq!(
            with_kubernetes_version(init, "v1.34.1"),
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.1\n"
        );
        let both = "kind: InitConfiguration\n---\nkind: ClusterConfiguration\nkubernetesVersion: v1.0.0\nnetworking: {}";
        assert_eq!(
            with_kubernetes_version(both, "v1.34.1"),
            "kind: InitConfiguration\n---\nkind: ClusterConfiguration\nnetworking: {}\nkubernetesVersion: v1.34.1\n"
        );
    }
}
