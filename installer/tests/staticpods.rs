//! Golden static Pod manifests: each case under `testdata/staticpods/<case>/` is a kubeadm
//! config file (`case.yaml`, whose leading `# version:`, `# etcd:`, `# env:` and `# host:`
//! comments give the bundle's version and etcd tag, the host's environment and the host paths
//! that exist), rendered through `write_manifests(…, "all", …)` into a temp root and compared byte
//! for byte with `expected/`; every golden file must also pass `kubernetes-validate --strict`
//! for its Kubernetes version. `AIRADM_BLESS=1` rewrites the golden files (review the diff).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use installer::kubeadm::files::Root;
use installer::kubeadm::staticpod;

mod cases;

use cases::{CASES, Case};

const MANIFESTS: &str = "etc/kubernetes/manifests";

/// Renders `case` into a fresh root: (file name, contents) of every manifest, plus output.txt.
fn render(case: &Case) -> Vec<(String, String)> {
    let root_dir = tempfile::tempdir().unwrap();
    let root = Root::new(root_dir.path());
    for path in &case.host_paths {
        root.create_dir(path, 0o755).unwrap();
    }
    let lines = staticpod::write_manifests(&case.config(), &root, "all", false, &case.env).unwrap();
    let manifests = root_dir.path().join(MANIFESTS);
    assert_eq!(mode(&manifests), 0o700, "manifests directory mode");
    let mut files: Vec<(String, String)> = fs_err::read_dir(&manifests)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            (p.file_name().unwrap().to_string_lossy().into_owned(), fs_err::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    let output = lines.join("\n").replace(&case.dir.display().to_string(), "$CASE") + "\n";
    files.push(("output.txt".into(), output));
    files
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

fn bless() -> bool {
    std::env::var_os("AIRADM_BLESS").is_some_and(|v| v == "1")
}

#[test]
fn manifests_match_golden_files() {
    let mut failures = Vec::new();
    for name in CASES {
        let case = Case::load(name);
        let expected_dir = case.dir.join("expected");
        let rendered = render(&case);
        if bless() {
            let _ = fs_err::remove_dir_all(&expected_dir);
            fs_err::create_dir_all(&expected_dir).unwrap();
            for (file, text) in &rendered {
                fs_err::write(expected_dir.join(file), text).unwrap();
            }
            continue;
        }
        let mut expected_files: Vec<String> =
            fs_err::read_dir(&expected_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        expected_files.sort();
        let rendered_files: Vec<String> = rendered.iter().map(|(f, _)| f.clone()).collect();
        let mut sorted_rendered = rendered_files.clone();
        sorted_rendered.sort();
        if sorted_rendered != expected_files {
            failures.push(format!("{name}: files {rendered_files:?}, expected {expected_files:?}"));
            continue;
        }
        for (file, text) in &rendered {
            let expected = fs_err::read_to_string(expected_dir.join(file)).unwrap();
            if &expected != text {
                failures.push(format!(
                    "{name}/{file} differs (AIRADM_BLESS=1 to rewrite):\n{}",
                    testkit::golden::first_difference(&expected, text)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// kubernetes-validate (PyPI) carries the OpenAPI schemas of 1.25–1.37 offline.
#[test]
fn golden_manifests_pass_strict_openapi_validation() {
    for name in CASES {
        let case = Case::load(name);
        let schema = format!("{}.{}.0", case.version.major, case.version.minor);
        let manifests: Vec<PathBuf> = fs_err::read_dir(case.dir.join("expected"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        assert!(!manifests.is_empty(), "{name}: no golden manifests (run with AIRADM_BLESS=1)");
        let files: Vec<&std::path::Path> = manifests.iter().map(PathBuf::as_path).collect();
        let stdout = testkit::golden::kubernetes_validate(&schema, &files);
        assert_eq!(stdout.matches(" passed for resource pod/").count(), manifests.len(), "{name}:\n{stdout}");
    }
}

#[test]
fn one_component_and_unknown_components() {
    let case = Case::load("defaults-v1.34");
    let root_dir = tempfile::tempdir().unwrap();
    let root = Root::new(root_dir.path());
    let lines = staticpod::write_manifests(&case.config(), &root, "kube-scheduler", false, &[]).unwrap();
    assert_eq!(lines, ["[control-plane] Creating static Pod manifest for \"kube-scheduler\""]);
    let written: Vec<_> = fs_err::read_dir(root_dir.path().join(MANIFESTS)).unwrap().collect();
    assert_eq!(written.len(), 1);
    assert!(staticpod::write_manifests(&case.config(), &root, "kube-proxy", false, &[]).is_err());
}

#[test]
fn a_bad_patch_fails_naming_the_file() {
    let patches = tempfile::tempdir().unwrap();
    fs_err::write(patches.path().join("kube-apiserver+json.yaml"), "- op: remove\n  path: /spec/nope\n").unwrap();
    let mut cfg = Case::load("defaults-v1.31").config();
    cfg.patches_dir = Some(patches.path().display().to_string());
    let root_dir = tempfile::tempdir().unwrap();
    let err = staticpod::write_manifests(&cfg, &Root::new(root_dir.path()), "all", false, &[]).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
    assert!(chain.contains("kube-apiserver+json.yaml") && chain.contains("kube-apiserver"), "{chain}");
}

/// The golden files are not evidence by themselves (they are blessed from our own output): each
/// one must be what real kubeadm of the case's minor writes for the same config file on a host
/// with the same CA directories (`kubeadm init phase control-plane all` and `etcd local` with
/// `--dry-run`, chrooted; see `testkit::reference`). The etcd image tag is the one exception:
/// airadm takes it from the bundle's catalog entry (the case's `# etcd:`), kubeadm from its own
/// constants for its own patch release, so kubeadm's tag is replaced by the case's first.
#[test]
fn golden_manifests_are_what_real_kubeadm_writes() {
    let (mut compared, mut goldens) = (0, 0);
    let mut failures = Vec::new();
    for name in CASES {
        let case = Case::load(name);
        let release = testkit::reference::release(case.version.minor);
        let kubeadm = testkit::reference::binary(release, "kubeadm");
        let config = testkit::reference::with_kubernetes_version(&case.yaml, &case.version.text);
        let patches = case.yaml.contains("patches:");
        let mut written = BTreeMap::new();
        for phase in [&["control-plane", "all"][..], &["etcd", "local"]] {
            let run = testkit::reference::kubeadm_init_phase(
                &kubeadm,
                phase,
                &config,
                &case.host_paths,
                &case.env,
                patches.then_some(case.dir.as_path()),
            );
            written.extend(run.files);
        }
        for text in written.values_mut() {
            if let Some(image) = text.lines().find(|l| l.trim_start().starts_with("image: registry.k8s.io/etcd:")).map(str::to_owned) {
                let indent = &image[..image.find("image").unwrap()];
                *text = text.replace(&image, &format!("{indent}image: registry.k8s.io/etcd:{}", case.etcd));
            }
        }
        let expected = case.dir.join("expected");
        for (file, text) in &written {
            match fs_err::read_to_string(expected.join(file)) {
                Ok(golden) if &golden == text => compared += 1,
                Ok(golden) => failures.push(format!("{name}/{file} ({release}): {}", testkit::golden::first_difference(text, &golden))),
                Err(_) => failures.push(format!("{name}/{file}: kubeadm {release} writes it, the golden files lack it")),
            }
        }
        let yaml: Vec<String> = fs_err::read_dir(&expected)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".yaml"))
            .collect();
        goldens += yaml.len();
        for file in yaml.iter().filter(|f| !written.contains_key(*f)) {
            failures.push(format!("{name}/{file}: in the golden files, kubeadm {release} does not write it"));
        }
    }
    assert!(failures.is_empty(), "golden files differ from real kubeadm:\n{}", failures.join("\n"));
    assert_eq!(compared, goldens, "every golden manifest was compared");
}
