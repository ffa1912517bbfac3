//! Golden files and schema checks shared by the rendering tests.

use std::path::Path;
use std::process::Command;

/// Where two texts first differ, for an assertion message.
pub fn first_difference(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let i = e.iter().zip(&a).position(|(x, y)| x != y).unwrap_or(e.len().min(a.len()));
    format!("line {}: expected {:?}, got {:?}", i + 1, e.get(i), a.get(i))
}

/// `kubernetes-validate --strict -k VERSION FILE…` (PyPI; the OpenAPI schemas of 1.25–1.37 come
/// with it, offline). Panics with its output unless every document passes with no warning;
/// returns its standard output.
pub fn kubernetes_validate(version: &str, files: &[&Path]) -> String {
    crate::require("kubernetes-validate", "kubernetes-validate (pip install kubernetes-validate)");
    let output =
        Command::new("kubernetes-validate").args(["--strict", "-k", version]).args(files).output().expect("run kubernetes-validate");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{files:?} against {version}:\n{stdout}{stderr}");
    assert!(!stdout.contains("WARN") && !stderr.contains("WARN"), "{files:?} against {version}:\n{stdout}{stderr}");
    stdout
}
