//! The API phases on a real control plane, against real kubeadm's. airadm writes a node's files
//! (its host-local phases); the tree is copied; each copy runs as a real control plane (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler of the reference toolchain, with the
//! static Pods' flags) in a network namespace of its own, both on the same address. airadm's
//! phases from `upload-config` to `show-join-command` run against the first, kubeadm's against
//! the second, from the same config; every object either created or changed must be equal in
//! both clusters, but for what is random (uids, timestamps, token secrets, encrypted key material).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use testkit::controlplane::{ControlPlane, NetNs};
use testkit::{reference, run_ok};

use crate::{World, airadm};

const VERSION: &str = "v1.34.4";
const ADDRESS: &str = "10.77.0.10";
const CERTIFICATE_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The API phases in init's order (kubeadm's names), each run alone as `init phase NAME`, but
/// show-join-command (see [`JOIN_PHASES_SKIPPED`]).
const PHASES: &[&[&str]] = &[
    &["upload-config", "all"],
    &["upload-certs", "--upload-certs"],
    &["mark-control-plane"],
    &["bootstrap-token"],
    &["kubelet-finalize", "all"],
    &["addon", "all"],
];

/// What `init` runs at the end to print the join commands: kubeadm's show-join-command needs
/// bootstrap-token and upload-certs in the same run (it refuses to run alone).
const JOIN_PHASES_SKIPPED: &str = "preflight,certs,kubeconfig,etcd,control-plane,kubelet-start,wait-control-plane,upload-config,mark-control-plane,kubelet-finalize,addon";

/// What kubeadm's phases create or change, by kind (as `kubectl get` names them).
const KINDS: &[&str] = &[
    "nodes",
    "namespaces",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "services",
    "deployments",
    "daemonsets",
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
];

/// Field managers of the control plane itself .
const CONTROL_PLANE_MANAGERS: &[&str] =
    &["kube-apiserver", "kube-controller-manager", "kube-scheduler", "clusterrole-aggregation-controller"];

fn config_text() -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
- token: abcdef.0123456789abcdef
  description: the test's token
certificateKey: {CERTIFICATE_KEY}
localAPIEndpoint:
  advertiseAddress: {ADDRESS}
nodeRegistration:
  name: cp-0
  criSocket: unix:///run/containerd/containerd.sock
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: {VERSION}
clusterName: api-phases
"
    )
}

/// Every object of [`KINDS`], normalised, by `kind/namespace/name`.
fn snapshot(cp: &ControlPlane, ns: &NetNs, bin: &Path) -> BTreeMap<String, Value> {
    let mut objects = BTreeMap::new();
    for kind in KINDS {
        let out = run_ok(cp.kubectl(ns, bin).args(["get", kind, "--all-namespaces", "--show-managed-fields", "-o", "json"]));
        let list: Value = serde_json::from_str(&out).unwrap();
        for item in list["items"].as_array().unwrap() {
            let meta = &item["metadata"];
            // What the control plane writes by itself, whenever its controllers get to it.
            let managers: Vec<&str> =
                meta["managedFields"].as_array().into_iter().flatten().filter_map(|f| f["manager"].as_str()).collect();
            if managers.iter().all(|m| CONTROL_PLANE_MANAGERS.contains(m)) {
                continue;
            }
            let key = format!("{kind}/{}/{}", meta["namespace"].as_str().unwrap_or(""), meta["name"].as_str().unwrap());
            objects.insert(key, item.clone());
        }
    }
    normalise(objects)
}

/// Drops what differs between any two clusters (uids, versions, times, controllers' status) and
/// renames what is random by design: the upload-certs phase's token, and the encrypted keys.
fn normalise(objects: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let random_tokens: Vec<String> = objects
        .keys()
        .filter_map(|k| k.strip_prefix("secrets/kube-system/bootstrap-token-"))
        .filter(|id| *id != "abcdef")
        .map(|id| format!("bootstrap-token-{id}"))
        .collect();
    let mut out = BTreeMap::new();
    for (mut key, mut object) in objects {
        let meta = object["metadata"].as_object_mut().unwrap();
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"] {
            meta.remove(field);
        }
        // What the controllers add when they get to it: revisions, and on the Node the TTL,
        // the beta labels and the lifecycle taints.
        for (field, keys) in [
            (
                "annotations",
                &["deployment.kubernetes.io/revision", "deprecated.daemonset.template.generation", "node.alpha.kubernetes.io/ttl"][..],
            ),
            ("labels", &["beta.kubernetes.io/arch", "beta.kubernetes.io/os"][..]),
        ] {
            if let Some(map) = meta.get_mut(field).and_then(Value::as_object_mut) {
                map.retain(|k, _| !keys.contains(&k.as_str()));
                if map.is_empty() {
                    meta.remove(field);
                }
            }
        }
        for owner in meta.get_mut("ownerReferences").and_then(Value::as_array_mut).into_iter().flatten() {
            owner["uid"] = Value::from("<uid>");
            if random_tokens.iter().any(|t| owner["name"] == *t) {
                owner["name"] = Value::from("bootstrap-token-<random>");
            }
        }
        if let Some(object) = object.as_object_mut() {
            object.remove("status");
        }
        if let Some(taints) = object.pointer_mut("/spec/taints").and_then(Value::as_array_mut) {
            taints.retain(|t| !t["key"].as_str().is_some_and(|k| k.starts_with("node.kubernetes.io/")));
        }
        for token in &random_tokens {
            if key == format!("secrets/kube-system/{token}") {
                key = "secrets/kube-system/bootstrap-token-<random>".into();
                object["metadata"]["name"] = Value::from("bootstrap-token-<random>");
                for field in ["token-id", "token-secret"] {
                    object["data"][field] = Value::from("<random>");
                }
            }
        }
        if key.starts_with("secrets/kube-system/bootstrap-token-") {
            object["data"]["expiration"] = Value::from("<now + ttl>");
        }
        if key == "secrets/kube-system/kubeadm-certs" {
            for value in object["data"].as_object_mut().unwrap().values_mut() {
                *value = Value::from("<encrypted>");
            }
        }
        out.insert(key, object);
    }
    out
}

/// Objects of `after` that are new or differ from `before`.
fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// `text` with the token after each `--token` replaced.
fn any_token(text: &str) -> String {
    let mut words: Vec<String> = text.split(' ').map(str::to_owned).collect();
    for i in 1..words.len() {
        if words[i - 1] == "--token" {
            words[i] = "<token>".into();
        }
    }
    words.join(" ")
}

/// The Node as the kubelet registers it (there is no kubelet here).
fn register_node(cp: &ControlPlane, ns: &NetNs, bin: &Path) {
    let node = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"cp-0","labels":{"kubernetes.io/hostname":"cp-0","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}}}"#;
    let file = cp.root.with_extension("node.json");
    fs_err::write(&file, node).unwrap();
    run_ok(cp.kubectl(ns, bin).arg("create").arg("-f").arg(&file));
}

#[test]
fn the_api_phases_make_on_a_real_control_plane_what_kubeadms_make() {
    let bin = reference::toolchain(VERSION, &["kubeadm", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]);
    let w = World::reference(VERSION);
    let (key, public) = w.keygen("release");
    run_ok(w.build(&key, "amd64", &w.path("out"), &[]));
    let bundle = w.bundle(&w.path("out"), "amd64");
    let config = w.path("kubeadm.yaml");
    fs_err::write(&config, config_text()).unwrap();
    let (ours, theirs) = (w.path("airadm"), w.path("kubeadm"));
    fs_err::create_dir_all(&ours).unwrap();
    let init = |root: &Path| {
        let mut cmd = airadm();
        cmd.args(["init", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public).arg("--rootfs").arg(root);
        cmd.arg("--config").arg(&config);
        cmd
    };
    run_ok(init(&ours).arg(
        "--skip-phases=import,preflight,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command",
    ));
    // The kubelet's rotated client certificate, which kubelet-finalize points kubelet.conf at.
    fs_err::create_dir_all(ours.join("var/lib/kubelet/pki")).unwrap();
    fs_err::copy(ours.join("etc/kubernetes/pki/apiserver-kubelet-client.crt"), ours.join("var/lib/kubelet/pki/kubelet-client-current.pem"))
        .unwrap();
    run_ok(Command::new("cp").arg("-a").arg(&ours).arg(&theirs));
    fs_err::copy(&config, theirs.join("kubeadm.yaml")).unwrap();

    let (ns_ours, ns_theirs) = (NetNs::new(ADDRESS), NetNs::new(ADDRESS));
    let cp_ours = ControlPlane::start(&ns_ours, &ours, &bin);
    let cp_theirs = ControlPlane::start(&ns_theirs, &theirs, &bin);
    register_node(&cp_ours, &ns_ours, &bin);
    register_node(&cp_theirs, &ns_theirs, &bin);
    let (before_ours, before_theirs) = (snapshot(&cp_ours, &ns_ours, &bin), snapshot(&cp_theirs, &ns_theirs, &bin));

    for phase in PHASES {
        let mut airadm_phase = ns_ours.command(crate::testkit_bin("airadm"));
        airadm_phase.args(["init", "phase"]).args(*phase).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        airadm_phase.arg("--rootfs").arg(&ours).arg("--config").arg(&config);
        let out = airadm_phase.output().unwrap();
        assert!(out.status.success(), "airadm init phase {phase:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), cp_ours.logs());
        let ours_said = String::from_utf8_lossy(&out.stdout).into_owned();

        let mut kubeadm_phase = ns_theirs.command(bin.join("kubeadm"));
        kubeadm_phase.args(["init", "phase"]).args(*phase).args(["--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs);
        let out = kubeadm_phase.output().unwrap();
        assert!(out.status.success(), "kubeadm init phase {phase:?}: {}\n{}", String::from_utf8_lossy(&out.stderr), cp_theirs.logs());
        let theirs_said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(any_token(&ours_said), any_token(&theirs_said), "what `init phase {phase:?}` prints: airadm (left), kubeadm (right)");
    }

    // The controller-manager's bootstrapsigner signs cluster-info with each token: wait for it
    // in both clusters, so that the signatures are compared too.
    for (cp, ns) in [(&cp_ours, &ns_ours), (&cp_theirs, &ns_theirs)] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        let signed = || {
            run_ok(cp.kubectl(ns, &bin).args([
                "get",
                "configmap",
                "cluster-info",
                "-n",
                "kube-public",
                "-o",
                "jsonpath={.data.jws-kubeconfig-abcdef}",
            ]))
        };
        while signed().is_empty() {
            assert!(std::time::Instant::now() < deadline, "cluster-info is not signed after 90 s\n{}", cp.logs());
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    let after_ours = snapshot(&cp_ours, &ns_ours, &bin);
    let ours_changed = changes(&before_ours, &after_ours);
    let theirs_changed = changes(&before_theirs, &snapshot(&cp_theirs, &ns_theirs, &bin));
    let keys = |m: &BTreeMap<String, Value>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ours_changed), keys(&theirs_changed), "objects created or changed: airadm's (left), kubeadm's (right)");
    let differing: Vec<String> = ours_changed
        .iter()
        .filter(|(k, v)| theirs_changed.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "{k}\n  airadm:  {}\n  kubeadm: {}",
                serde_json::to_string(v).unwrap(),
                serde_json::to_string(&theirs_changed[k]).unwrap()
            )
        })
        .collect();
    assert!(differing.is_empty(), "{} objects differ:\n{}", differing.len(), differing.join("\n"));
    assert!(ours_changed.contains_key("configmaps/kube-public/cluster-info"), "{:?}", keys(&ours_changed));

    // Run again, each of airadm's phases converges: nothing changes but upload-certs' fresh
    // token and re-encrypted Secret, which normalise to the same.
    for phase in PHASES {
        let mut again = ns_ours.command(crate::testkit_bin("airadm"));
        again.args(["init", "phase"]).args(*phase).arg("--bundle").arg(&bundle).arg("--trusted-key").arg(&public);
        run_ok(again.arg("--rootfs").arg(&ours).arg("--config").arg(&config));
    }
    let again = snapshot(&cp_ours, &ns_ours, &bin);
    assert_eq!(keys(&again), keys(&after_ours), "a second run of the phases");
    let moved: Vec<&String> = again.keys().filter(|k| after_ours.get(*k) != again.get(*k)).collect();
    assert!(moved.is_empty(), "a second run of the phases changed {moved:?}");

    // The end of init, as both print it (the token and certificate key come from the config).
    let mut airadm_end = ns_ours.command(crate::testkit_bin("airadm"));
    airadm_end.args(["init", "--upload-certs", "--bundle"]).arg(&bundle).arg("--trusted-key").arg(&public);
    airadm_end
        .arg("--rootfs")
        .arg(&ours)
        .arg("--config")
        .arg(&config)
        .arg(format!("--skip-phases=import,binaries,cni,{JOIN_PHASES_SKIPPED}"));
    let mut kubeadm_end = ns_theirs.command(bin.join("kubeadm"));
    kubeadm_end.args(["init", "--upload-certs", "--config", "/kubeadm.yaml", "--rootfs"]).arg(&theirs);
    kubeadm_end.arg(format!("--skip-phases={JOIN_PHASES_SKIPPED}"));
    // By design airadm's join line names airadm and the bundle the joining node needs.
    let bundle_arg = format!("--bundle {} ", bundle.file_name().unwrap().to_string_lossy());
    let said = run_ok(airadm_end).replace("airadm join ", "kubeadm join ").replace(&bundle_arg, "");
    assert_eq!(said, run_ok(kubeadm_end), "init's last phases: airadm (left), kubeadm (right)");

    // kubeadm's join reads what airadm wrote: discovery checks cluster-info's signature with the
    // token and pins the CA; download-certs decrypts airadm's kubeadm-certs Secret.
    let hash = said.split_whitespace().skip_while(|w| *w != "--discovery-token-ca-cert-hash").nth(1).unwrap().to_owned();
    let joiner = w.path("joiner");
    fs_err::create_dir_all(&joiner).unwrap();
    let join = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: {ADDRESS}:6443
    token: abcdef.0123456789abcdef
    caCertHashes: [{hash}]
controlPlane:
  localAPIEndpoint:
    advertiseAddress: {ADDRESS}
  certificateKey: {CERTIFICATE_KEY}
nodeRegistration:
  name: cp-1
"
    );
    fs_err::write(joiner.join("join.yaml"), join).unwrap();
    let mut download = ns_ours.command(bin.join("kubeadm"));
    download.args(["join", "phase", "control-plane-prepare", "download-certs", "--config", "/join.yaml", "--rootfs"]).arg(&joiner);
    let out = run_ok(download);
    assert!(out.contains("[download-certs] Downloading the certificates in Secret \"kubeadm-certs\""), "{out}");
    for file in ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key"] {
        let read = |root: &Path| fs_err::read(root.join("etc/kubernetes/pki").join(file)).unwrap();
        assert_eq!(read(&joiner), read(&ours), "{file} as kubeadm join downloaded it");
    }

    // And the other way: the kubeadm-certs Secret real kubeadm wrote decrypts with airadm's code
    // (`upload_certs::decrypt`, what airadm's join will use) into kubeadm's own files.
    let secret = run_ok(cp_theirs.kubectl(&ns_theirs, &bin).args(["get", "secret", "kubeadm-certs", "-n", "kube-system", "-o", "json"]));
    let secret: Value = serde_json::from_str(&secret).unwrap();
    let key = installer::kubeadm::api::decode_certificate_key(CERTIFICATE_KEY).unwrap();
    let data = secret["data"].as_object().unwrap();
    assert_eq!(data.len(), 8, "{data:?}");
    for (name, value) in data {
        let sealed = installer::kubeadm::certs::pki::base64_decode(value.as_str().unwrap()).unwrap();
        let plain = installer::kubeadm::api::decrypt(&sealed, &key, name).unwrap();
        let file = name.replacen("etcd-", "etcd/", 1);
        assert_eq!(plain, fs_err::read(theirs.join("etc/kubernetes/pki").join(&file)).unwrap(), "kubeadm's {name}, decrypted by airadm");
    }

    let kubelet_conf = |root: &Path| fs_err::read_to_string(root.join("etc/kubernetes/kubelet.conf")).unwrap();
    assert_eq!(kubelet_conf(&ours), kubelet_conf(&theirs), "kubelet.conf after kubelet-finalize");
    assert!(kubelet_conf(&ours).contains("kubelet-client-current.pem"));
}
