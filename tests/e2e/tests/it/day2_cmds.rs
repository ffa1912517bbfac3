//! `airadm kubeconfig user`, `airadm config validate` and `airadm version` beside real kubeadm of
//! the same release, on the same input: the same kubeconfig (its client certificate described,
//! since the key is new each time), the same verdict on valid and invalid configuration files,
//! and kubeadm's version shapes.

use std::path::Path;
use std::process::Command;

use testkit::{run_fails, run_ok};

use crate::{airadm, airbundle};

const VERSION: &str = "v1.34.4";

const CONFIG: &str = "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.0.9
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: day2
controlPlaneEndpoint: cp.example.com
";

/// The kubeconfig with its client pair replaced by a description of the certificate.
fn comparable(text: &str) -> (String, Option<(String, i64, i64)>) {
    let field = |key: &str| text.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().to_owned());
    let Some(cert) = field("client-certificate-data:") else { return (text.to_owned(), None) };
    let key = field("client-key-data:").unwrap();
    let pem = installer::kubeadm::certs::pki::base64_decode(&cert).unwrap();
    (text.replace(&cert, "CERT").replace(&key, "KEY"), Some(crate::certs_cmds::describe(&pem)))
}

#[test]
fn kubeconfig_user_writes_what_real_kubeadm_writes() {
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs_err::write(root.join("kubeadm.yaml"), CONFIG).unwrap();
    run_ok(Command::new(&kubeadm).args(["init", "phase", "certs", "ca", "--config", "/kubeadm.yaml", "--rootfs"]).arg(root));
    let theirs = |args: &[&str]| {
        let mut cmd = Command::new(&kubeadm);
        cmd.args(["kubeconfig", "user", "--config", "/kubeadm.yaml"]).args(args).arg("--rootfs").arg(root).env_clear();
        cmd
    };
    let ours = |args: &[&str]| {
        let mut cmd = airadm();
        cmd.args(["kubeconfig", "user", "--config"]).arg(root.join("kubeadm.yaml")).args(args).arg("--rootfs").arg(root);
        cmd
    };
    for args in [
        &["--client-name", "alice"][..],
        &["--client-name", "bob", "--org", "team-a", "--validity-period", "24h"],
        &["--client-name", "ci", "--token", "abcdef.0123456789abcdef"],
    ] {
        let (mine, their) = (run_ok(ours(args)), run_ok(theirs(args)));
        let ((mine, my_cert), (their, their_cert)) = (comparable(&mine), comparable(&their));
        assert_eq!(mine, their, "kubeconfig user {args:?}: airadm (left), kubeadm (right)");
        match (my_cert, their_cert) {
            (Some((fields, length, from)), Some((their_fields, their_length, their_from))) => {
                assert_eq!(fields, their_fields, "{args:?}");
                assert_eq!(from, their_from, "{args:?}: NotBefore is the CA's");
                assert!((length - their_length).abs() < 60, "{args:?}: validity {length} s, kubeadm's {their_length} s");
            }
            (None, None) => assert!(mine.contains("token: abcdef.0123456789abcdef"), "{mine}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    // Refused with the reason: no CA there; more than one organization.
    let empty = tempfile::tempdir().unwrap();
    let err = run_fails(airadm().args(["kubeconfig", "user", "--client-name", "x", "--rootfs"]).arg(empty.path()));
    assert!(err.contains("/etc/kubernetes/pki/ca.crt` does not exist"), "{err}");
    let err = run_fails(ours(&["--client-name", "x", "--org", "a,b"]));
    assert!(err.contains("--org") && err.lines().count() == 1, "{err}");
}

#[test]
fn config_validate_agrees_with_real_kubeadm() {
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, bool)] = &[
        ("init and cluster", CONFIG, true),
        ("v1beta3", "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n    v: \"2\"\n", true),
        (
            "join",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 10.0.0.9:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n",
            true,
        ),
        ("reset", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\n", true),
        ("an unknown field", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnotAField: 1\n", false),
        ("an unknown API version", "apiVersion: kubeadm.k8s.io/v1beta9\nkind: ClusterConfiguration\n", false),
        (
            "a bad pod subnet",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.300.0.0/16\n",
            false,
        ),
        ("join without discovery", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n", false),
        (
            "a bad advertise address",
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0\n",
            false,
        ),
    ];
    for (name, text, valid) in cases {
        let file = dir.path().join("config.yaml");
        fs_err::write(&file, text).unwrap();
        let run = |cmd: &mut Command| cmd.args(["config", "validate", "--config"]).arg(&file).output().unwrap();
        let (ours, theirs) = (run(&mut airadm()), run(Command::new(&kubeadm).env_clear()));
        let said = |o: &std::process::Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(theirs.status.success(), *valid, "kubeadm on {name}: {}", said(&theirs));
        assert_eq!(ours.status.success(), *valid, "airadm on {name}: {}", said(&ours));
        if *valid {
            assert_eq!(String::from_utf8_lossy(&ours.stdout), "ok\n");
            assert_eq!(ours.stdout, theirs.stdout, "{name}");
        } else {
            assert_eq!(String::from_utf8_lossy(&ours.stderr).trim().lines().count(), 1, "{name}: {}", said(&ours));
        }
    }
}

#[test]
fn version_has_kubeadms_shapes() {
    let short = run_ok(airadm().args(["version", "-o", "short"]));
    assert_eq!(short, format!("v{}\n", env!("CARGO_PKG_VERSION")));
    let json: serde_json::Value = serde_json::from_str(&run_ok(airadm().args(["version", "-o", "json"]))).unwrap();
    let info = &json["clientVersion"];
    assert_eq!(info["gitVersion"], short.trim());
    let head = run_ok(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(Path::new(env!("CARGO_MANIFEST_DIR"))));
    assert_eq!(info["gitCommit"], head.trim(), "{json}");
    assert_eq!(info["platform"], "linux/amd64");
    let yaml: serde_json::Value = serde_saphyr::from_str(&run_ok(airadm().args(["version", "-o", "yaml"]))).unwrap();
    assert_eq!(yaml, json);
    let line = run_ok(airadm().arg("version"));
    assert!(line.starts_with("airadm version: &version.Info{Major:\"0\", Minor:\"1\", GitVersion:") && line.ends_with("}\n"), "{line}");
    // kubeadm's shape, for the same keys.
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let theirs: serde_json::Value = serde_json::from_str(&run_ok(Command::new(&kubeadm).args(["version", "-o", "json"]))).unwrap();
    for key in ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "compiler", "platform"] {
        assert!(theirs["clientVersion"].get(key).is_some() && info.get(key).is_some(), "{key}: {theirs} vs {json}");
    }
    let err = run_fails(airadm().args(["version", "-o", "xml"]));
    assert!(err.contains("invalid output format: xml"), "{err}");
    // airbundle says the same of itself, and both `--version` in one line.
    let theirs: serde_json::Value = serde_json::from_str(&run_ok(airbundle().args(["version", "-o", "json"]))).unwrap();
    for key in ["gitVersion", "gitCommit", "gitTreeState", "buildDate", "target", "platform"] {
        assert_eq!(theirs["clientVersion"][key], info[key], "{key}");
    }
    let target = info["target"].as_str().unwrap();
    for (program, mut cmd) in [("airbundle", airbundle()), ("airadm", airadm())] {
        let said = run_ok(cmd.arg("--version"));
        assert!(said.starts_with(&format!("{program} v{} (commit {}, tree ", env!("CARGO_PKG_VERSION"), head.trim())), "{said}");
        assert!(said.contains(&format!(", target {target}, built {}", info["buildDate"].as_str().unwrap())), "{said}");
    }
    assert!(run_ok(airbundle().arg("version")).starts_with("airbundle version: &version.Info{Major:\"0\""));
}

#[test]
fn config_migrate_writes_what_real_kubeadm_writes() {
    let kubeadm = testkit::reference::binary(VERSION, "kubeadm");
    let dir = tempfile::tempdir().unwrap();
    let old = format!(
        "apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
nodeRegistration:
  kubeletExtraArgs:
    v: \"4\"
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: {VERSION}
controlPlaneEndpoint: cp.example.com:6443
apiServer:
  timeoutForControlPlane: 7m0s
  extraArgs:
    audit-log-maxage: \"5\"
networking:
  podSubnet: 10.244.0.0/16
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: JoinConfiguration
discovery:
  timeout: 3m0s
  bootstrapToken:
    apiServerEndpoint: cp.example.com:6443
    token: abcdef.0123456789abcdef
    caCertHashes: [sha256:0000000000000000000000000000000000000000000000000000000000000000]
controlPlane:
  certificateKey: {key}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ResetConfiguration
force: true
",
        key = "ab".repeat(32)
    );
    let file = dir.path().join("old.yaml");
    fs_err::write(&file, old).unwrap();
    let theirs = run_ok(Command::new(&kubeadm).args(["config", "migrate", "--old-config"]).arg(&file).env_clear());
    let ours = run_ok(airadm().args(["config", "migrate", "--old-config"]).arg(&file));
    // Each run generates its bootstrap token.
    let token = |text: &str| text.lines().find_map(|l| l.trim().strip_prefix("token: ")).map(str::to_owned).unwrap();
    let mask = |text: &str| text.replace(&token(text), "TOKEN");
    assert_eq!(mask(&ours), mask(&theirs), "config migrate: airadm (left), kubeadm (right)");
    // --new-config writes the same, and the result migrates to itself.
    let new = dir.path().join("new.yaml");
    run_ok(airadm().args(["config", "migrate", "--old-config"]).arg(&file).arg("--new-config").arg(&new));
    let written = fs_err::read_to_string(&new).unwrap();
    assert_eq!(mask(&written), mask(&ours));
    let again = run_ok(airadm().args(["config", "migrate", "--old-config"]).arg(&new));
    assert_eq!(again, written, "a migrated file migrates to itself");
}
