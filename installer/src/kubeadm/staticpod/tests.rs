//! kubeadm's own unit-test vectors (manifests_test.go @898b9f80, local_test.go @6bb6c993;
//! KUBEADM.md §3.4–3.8) and the version switches.

use bundle::kubeadm::{Arg, ExternalEtcd};

use super::controlplane::{apiserver_command, authz_modes, controller_manager_command, scheduler_command};
use super::etcd::{etcd_command, uses_etcd36_flags};
use super::{etcd_pod, to_yaml};
use crate::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags};
use crate::kubeadm::{InitConfig, Version};

fn images(version: &Version, etcd: &str) -> ComponentImages {
    ComponentImages {
        api_server: format!("registry.k8s.io/kube-apiserver:{version}"),
        controller_manager: format!("registry.k8s.io/kube-controller-manager:{version}"),
        scheduler: format!("registry.k8s.io/kube-scheduler:{version}"),
        etcd: format!("registry.k8s.io/etcd:{etcd}"),
        ..Default::default()
    }
}

fn config_for(version: &str, etcd: &str) -> InitConfig {
    let docs = config::parse_documents("", "test.yaml").unwrap();
    let host = HostFacts { hostname: "node".into(), default_address: Some("1.2.3.4".parse().unwrap()), cri_socket: None };
    let version = Version::parse(version).unwrap();
    config::resolve(docs, &InitFlags::default(), &host, &version, images(&version, etcd)).unwrap()
}

/// The config kubeadm's manifests tests use: certsDir /var/lib/certs, endpoint 1.2.3.4:123.
fn vector_config() -> InitConfig {
    let mut cfg = config_for("v1.31.2", "3.5.15-0");
    cfg.service_subnet = "bar".into();
    cfg.dns_domain = "cluster.local".into();
    cfg.cert_dir = "/var/lib/certs".into();
    cfg.bind_port = 123;
    cfg.cluster_name = String::new();
    cfg
}

fn args(pairs: &[(&str, &str)]) -> Option<Vec<Arg>> {
    Some(pairs.iter().map(|(n, v)| Arg { name: (*n).into(), value: (*v).into() }).collect())
}

/// kubeadm compares sorted slices; ours must also already be sorted after the binary.
fn assert_command(actual: Vec<String>, expected: &str) {
    let mut expected: Vec<&str> = expected.split_whitespace().collect();
    // ArgumentsToCommand's order: by name, then value.
    expected[1..].sort_by_key(|a| a.split_once('=').unwrap_or((a, "")));
    assert_eq!(actual, expected);
}

const APISERVER_DEFAULTS: &str = "kube-apiserver --enable-admission-plugins=NodeRestriction --service-cluster-ip-range=bar \
--service-account-key-file=/var/lib/certs/sa.pub --service-account-signing-key-file=/var/lib/certs/sa.key \
--service-account-issuer=https://kubernetes.default.svc.cluster.local --client-ca-file=/var/lib/certs/ca.crt \
--tls-cert-file=/var/lib/certs/apiserver.crt --tls-private-key-file=/var/lib/certs/apiserver.key \
--kubelet-client-certificate=/var/lib/certs/apiserver-kubelet-client.crt --kubelet-client-key=/var/lib/certs/apiserver-kubelet-client.key \
--enable-bootstrap-token-auth=true --secure-port=123 --allow-privileged=true \
--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname --proxy-client-cert-file=/var/lib/certs/front-proxy-client.crt \
--proxy-client-key-file=/var/lib/certs/front-proxy-client.key --requestheader-username-headers=X-Remote-User \
--requestheader-group-headers=X-Remote-Group --requestheader-extra-headers-prefix=X-Remote-Extra- \
--requestheader-client-ca-file=/var/lib/certs/front-proxy-ca.crt --requestheader-allowed-names=front-proxy-client";
const LOCAL_ETCD_V4: &str = "--etcd-servers=https://127.0.0.1:2379 --etcd-cafile=/var/lib/certs/etcd/ca.crt \
--etcd-certfile=/var/lib/certs/apiserver-etcd-client.crt --etcd-keyfile=/var/lib/certs/apiserver-etcd-client.key";
const LOCAL_ETCD_V6: &str = "--etcd-servers=https://[::1]:2379 --etcd-cafile=/var/lib/certs/etcd/ca.crt \
--etcd-certfile=/var/lib/certs/apiserver-etcd-client.crt --etcd-keyfile=/var/lib/certs/apiserver-etcd-client.key";

#[test]
fn apiserver_command_matches_kubeadm_vectors_1_to_4() {
    let cfg = vector_config();
    assert_command(
        apiserver_command(&cfg),
        &format!("{APISERVER_DEFAULTS} --authorization-mode=Node,RBAC --advertise-address=1.2.3.4 {LOCAL_ETCD_V4}"),
    );
    let mut v6 = vector_config();
    v6.advertise_address = "2001:db8::1".parse().unwrap();
    assert_command(
        apiserver_command(&v6),
        &format!("{APISERVER_DEFAULTS} --authorization-mode=Node,RBAC --advertise-address=2001:db8::1 {LOCAL_ETCD_V6}"),
    );
    let mut external = v6.clone();
    external.etcd.local = None;
    external.etcd.external = Some(ExternalEtcd {
        endpoints: vec!["https://[2001:abcd:bcda::1]:2379".into(), "https://[2001:abcd:bcda::2]:2379".into()],
        ca_file: Some("fuz".into()),
        cert_file: Some("fiz".into()),
        key_file: Some("faz".into()),
        ..Default::default()
    });
    assert_command(
        apiserver_command(&external),
        &format!(
            "{APISERVER_DEFAULTS} --authorization-mode=Node,RBAC --advertise-address=2001:db8::1 \
             --etcd-servers=https://[2001:abcd:bcda::1]:2379,https://[2001:abcd:bcda::2]:2379 --etcd-cafile=fuz --etcd-certfile=fiz --etcd-keyfile=faz"
        ),
    );
    let mut insecure = external.clone();
    insecure.etcd.external =
        Some(ExternalEtcd { endpoints: vec!["http://[::1]:2379".into(), "http://[::1]:2380".into()], ..Default::default() });
    assert_command(
        apiserver_command(&insecure),
        &format!(
            "{APISERVER_DEFAULTS} --authorization-mode=Node,RBAC --advertise-address=2001:db8::1 --etcd-servers=http://[::1]:2379,http://[::1]:2380"
        ),
    );
}

#[test]
fn apiserver_command_matches_kubeadm_vectors_5_to_9() {
    let with = |extra: &[(&str, &str)]| {
        let mut cfg = vector_config();
        cfg.api_server.extra_args = args(extra);
        apiserver_command(&cfg)
    };
    let base = APISERVER_DEFAULTS.replace("--service-cluster-ip-range=bar", "--service-cluster-ip-range=baz");
    assert_command(
        with(&[
            ("service-cluster-ip-range", "baz"),
            ("advertise-address", "9.9.9.9"),
            ("audit-policy-file", "/etc/config/audit.yaml"),
            ("audit-log-path", "/var/log/kubernetes"),
        ]),
        &format!(
            "{base} --authorization-mode=Node,RBAC --advertise-address=9.9.9.9 {LOCAL_ETCD_V4} \
             --audit-policy-file=/etc/config/audit.yaml --audit-log-path=/var/log/kubernetes"
        ),
    );
    assert_command(
        with(&[("authorization-mode", "ABAC")]),
        &format!("{APISERVER_DEFAULTS} --authorization-mode=ABAC --advertise-address=1.2.3.4 {LOCAL_ETCD_V4}"),
    );
    assert_command(
        with(&[("authorization-mode", "Node,RBAC,Webhook")]),
        &format!("{APISERVER_DEFAULTS} --authorization-mode=Node,RBAC,Webhook --advertise-address=1.2.3.4 {LOCAL_ETCD_V4}"),
    );
    assert_command(
        with(&[("authorization-config", "/path/to/authorization/config/file")]),
        &format!(
            "{APISERVER_DEFAULTS} --authorization-config=/path/to/authorization/config/file --advertise-address=1.2.3.4 {LOCAL_ETCD_V4}"
        ),
    );
    assert_command(
        with(&[("authorization-config", "/path/to/authorization/config/file"), ("authorization-mode", "Node,RBAC,Webhook")]),
        &format!(
            "{APISERVER_DEFAULTS} --authorization-config=/path/to/authorization/config/file --authorization-mode=Node,RBAC,Webhook \
             --advertise-address=1.2.3.4 {LOCAL_ETCD_V4}"
        ),
    );
}

#[test]
fn apiserver_uses_local_etcd_advertise_client_urls() {
    let mut cfg = vector_config();
    cfg.etcd.local.as_mut().unwrap().extra_args = args(&[("advertise-client-urls", "https://10.0.1.10:2379")]);
    assert!(apiserver_command(&cfg).contains(&"--etcd-servers=https://10.0.1.10:2379".to_owned()));
}

#[test]
fn authz_modes_match_kubeadm() {
    for (requested, expected) in [
        ("", "Node,RBAC"),
        ("Node,RBAC", "Node,RBAC"),
        ("FooAuthzMode", "Node,RBAC"),
        ("Node,foo,RBAC,bar", "Node,RBAC"),
        ("AlwaysDeny", "AlwaysDeny"),
        ("Node,Webhook,RBAC,ABAC", "Node,Webhook,RBAC,ABAC"),
    ] {
        assert_eq!(authz_modes(requested), expected, "{requested}");
    }
}

const KCM_COMMON: &str = "kube-controller-manager --bind-address=127.0.0.1 --leader-elect=true \
--kubeconfig=/etc/kubernetes/controller-manager.conf --root-ca-file=/var/lib/certs/ca.crt \
--service-account-private-key-file=/var/lib/certs/sa.key --cluster-signing-cert-file=/var/lib/certs/ca.crt \
--cluster-signing-key-file=/var/lib/certs/ca.key --use-service-account-credentials=true --controllers=*,bootstrapsigner,tokencleaner \
--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf --authorization-kubeconfig=/etc/kubernetes/controller-manager.conf \
--client-ca-file=/var/lib/certs/ca.crt --requestheader-client-ca-file=/var/lib/certs/front-proxy-ca.crt";

#[test]
fn controller_manager_command_matches_kubeadm_vectors() {
    let kcm = |cluster: &str, pods: Option<&str>, services: &str, extra: &[(&str, &str)]| {
        let mut cfg = vector_config();
        cfg.cluster_name = cluster.into();
        cfg.pod_subnet = pods.map(Into::into);
        cfg.service_subnet = services.into();
        cfg.controller_manager.extra_args = args(extra);
        controller_manager_command(&cfg, false)
    };
    let alloc = "--allocate-node-cidrs=true";
    assert_command(kcm("some-other-cluster-name", None, "", &[]), &format!("{KCM_COMMON} --cluster-name=some-other-cluster-name"));
    assert_command(kcm("", None, "", &[]), KCM_COMMON);
    assert_command(kcm("", Some("10.0.1.15/16"), "", &[]), &format!("{KCM_COMMON} {alloc} --cluster-cidr=10.0.1.15/16"));
    assert_command(
        kcm("", Some("10.0.1.15/16"), "172.20.0.0/24", &[]),
        &format!("{KCM_COMMON} {alloc} --cluster-cidr=10.0.1.15/16 --service-cluster-ip-range=172.20.0.0/24"),
    );
    assert_command(
        kcm("", Some("10.0.1.15/16"), "", &[("node-cidr-mask-size", "20")]),
        &format!("{KCM_COMMON} {alloc} --cluster-cidr=10.0.1.15/16 --node-cidr-mask-size=20"),
    );
    assert_command(
        kcm("", Some("2001:db8::/64"), "fd03::/112", &[]),
        &format!("{KCM_COMMON} {alloc} --cluster-cidr=2001:db8::/64 --service-cluster-ip-range=fd03::/112"),
    );
    assert_command(
        kcm("", Some("2001:db8::/64"), "fd03::/112", &[("allocate-node-cidrs", "false")]),
        &format!("{KCM_COMMON} --allocate-node-cidrs=false --cluster-cidr=2001:db8::/64 --service-cluster-ip-range=fd03::/112"),
    );
    assert_command(
        kcm("", Some("2001:db8::/64,10.1.0.0/16"), "fd03::/112,192.168.0.0/16", &[]),
        &format!("{KCM_COMMON} {alloc} --cluster-cidr=2001:db8::/64,10.1.0.0/16 --service-cluster-ip-range=fd03::/112,192.168.0.0/16"),
    );
    assert_command(
        kcm("", Some("10.0.1.15/16,2001:db8::/64"), "", &[("node-cidr-mask-size-ipv4", "20"), ("node-cidr-mask-size-ipv6", "80")]),
        &format!(
            "{KCM_COMMON} {alloc} --cluster-cidr=10.0.1.15/16,2001:db8::/64 --node-cidr-mask-size-ipv4=20 --node-cidr-mask-size-ipv6=80"
        ),
    );
}

#[test]
fn controller_manager_gets_empty_signing_flags_with_an_external_ca() {
    let mut cfg = vector_config();
    let normal = controller_manager_command(&cfg, false);
    assert!(normal.contains(&"--cluster-signing-key-file=/var/lib/certs/ca.key".to_owned()));
    cfg.cluster_name = String::new();
    let external = controller_manager_command(&cfg, true);
    let expected = KCM_COMMON
        .replace("--cluster-signing-cert-file=/var/lib/certs/ca.crt", "--cluster-signing-cert-file=")
        .replace("--cluster-signing-key-file=/var/lib/certs/ca.key", "--cluster-signing-key-file=");
    assert_command(external, &expected);
}

#[test]
fn scheduler_command_matches_kubeadm_vector() {
    assert_command(
        scheduler_command(&vector_config()),
        "kube-scheduler --bind-address=127.0.0.1 --leader-elect=true --kubeconfig=/etc/kubernetes/scheduler.conf \
         --authentication-kubeconfig=/etc/kubernetes/scheduler.conf --authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
    );
}

/// local_test.go's config: empty certificatesDir, dataDir /var/lib/etcd, v1.31-era flags.
fn etcd_vector_config(node: &str, advertise: &str) -> InitConfig {
    let mut cfg = config_for("v1.31.2", "3.5.15-0");
    cfg.cert_dir = String::new();
    cfg.node_name = node.into();
    cfg.advertise_address = advertise.parse().unwrap();
    cfg
}

const ETCD_CERTS: &str = "--cert-file=etcd/server.crt --key-file=etcd/server.key --trusted-ca-file=etcd/ca.crt --client-cert-auth=true \
--peer-cert-file=etcd/peer.crt --peer-key-file=etcd/peer.key --peer-trusted-ca-file=etcd/ca.crt --snapshot-count=10000 \
--peer-client-cert-auth=true --data-dir=/var/lib/etcd --experimental-initial-corrupt-check=true \
--experimental-watch-progress-notify-interval=5s";

#[test]
fn etcd_command_matches_kubeadm_vectors() {
    let cfg = etcd_vector_config("foo", "1.2.3.4");
    let v4 = "--listen-client-urls=https://127.0.0.1:2379,https://1.2.3.4:2379 --listen-metrics-urls=http://127.0.0.1:2381 \
              --advertise-client-urls=https://1.2.3.4:2379 --listen-peer-urls=https://1.2.3.4:2380 \
              --initial-advertise-peer-urls=https://1.2.3.4:2380";
    assert_command(etcd_command(&cfg, &[], &[]), &format!("etcd --name=foo {ETCD_CERTS} {v4} --initial-cluster=foo=https://1.2.3.4:2380"));
    let members = [("foo".to_owned(), "https://1.2.3.4:2380".to_owned()), ("bar".to_owned(), "https://5.6.7.8:2380".to_owned())];
    assert_command(
        etcd_command(&cfg, &[], &members),
        &format!(
            "etcd --name=foo {ETCD_CERTS} {v4} --initial-cluster-state=existing \
             --initial-cluster=foo=https://1.2.3.4:2380,bar=https://5.6.7.8:2380"
        ),
    );
    let bar = etcd_vector_config("bar", "1.2.3.4");
    let extra = args(&[("listen-client-urls", "https://10.0.1.10:2379"), ("advertise-client-urls", "https://10.0.1.10:2379")]).unwrap();
    assert_command(
        etcd_command(&bar, &extra, &[]),
        &format!(
            "etcd --name=bar {ETCD_CERTS} --listen-client-urls=https://10.0.1.10:2379 --listen-metrics-urls=http://127.0.0.1:2381 \
             --advertise-client-urls=https://10.0.1.10:2379 --listen-peer-urls=https://1.2.3.4:2380 \
             --initial-advertise-peer-urls=https://1.2.3.4:2380 --initial-cluster=bar=https://1.2.3.4:2380"
        ),
    );
    let v6 = etcd_vector_config("foo", "2001:db8::3");
    assert_command(
        etcd_command(&v6, &[], &[]),
        &format!(
            "etcd --name=foo {ETCD_CERTS} --listen-client-urls=https://[::1]:2379,https://[2001:db8::3]:2379 \
             --listen-metrics-urls=http://[::1]:2381 --advertise-client-urls=https://[2001:db8::3]:2379 \
             --listen-peer-urls=https://[2001:db8::3]:2380 --initial-advertise-peer-urls=https://[2001:db8::3]:2380 \
             --initial-cluster=foo=https://[2001:db8::3]:2380"
        ),
    );
}

/// TestCreateLocalEtcdStaticPodManifestFile's byte-exact YAML, with real inputs in place of the
/// test's empty ones (node `node`, advertise 1.2.3.4, image from the bundle) and v1.33's
/// `creationTimestamp: null` (the vector itself comes from a v1.34-dev tree, after k8s #130989,
/// but before the probe-port change).
#[test]
fn etcd_manifest_matches_kubeadm_yaml_vector() {
    const VECTOR: &str = include_str!("../../../tests/testdata/staticpods/kubeadm-etcd-vector.yaml");
    let mut cfg = config_for("v1.33.4", "3.5.21-0");
    cfg.cert_dir = String::new();
    cfg.etcd.local.as_mut().unwrap().data_dir = Some("/tmp/x/etcd".into());
    let expected = VECTOR
        .replace("%s/etcd", "/tmp/x/etcd")
        .replace("https://:", "https://1.2.3.4:")
        .replace("--name=\n", "--name=node\n")
        .replace("--initial-cluster==", "--initial-cluster=node=")
        .replace("image: /etcd:%s", "image: registry.k8s.io/etcd:3.5.21-0")
        .replace("  labels:\n", "  creationTimestamp: null\n  labels:\n");
    assert_eq!(to_yaml(&etcd_pod(&cfg)), expected);
}

#[test]
fn etcd_flags_follow_the_version_and_the_etcd_image() {
    let flags = |version: &str, etcd: &str| uses_etcd36_flags(&config_for(version, etcd));
    assert!(!flags("v1.33.0", "3.6.0-0"));
    assert!(!flags("v1.34.1", "3.5.21-0"));
    assert!(flags("v1.34.1", "3.6.4-0"));
    assert!(flags("v1.35.0", "3.6.5-0@sha256:0000"));
    assert!(flags("v1.36.0", "3.5.21-0"));
    let mut digest_only = config_for("v1.34.1", "3.6.4-0");
    digest_only.images.etcd = "registry.k8s.io/etcd@sha256:abcd".into();
    assert!(uses_etcd36_flags(&digest_only));
}

#[test]
fn etcd_probe_follows_listen_metrics_urls() {
    let mut cfg = config_for("v1.34.1", "3.6.4-0");
    cfg.etcd.local.as_mut().unwrap().extra_args = args(&[("listen-metrics-urls", "https://[::1]:2382,http://127.0.0.1:2381")]);
    let pod = etcd_pod(&cfg);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["host"], "::1");
    assert_eq!(container["livenessProbe"]["httpGet"]["scheme"], "HTTPS");
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "probe-port");
    assert_eq!(container["ports"][0]["containerPort"], 2382);
}

#[test]
fn startup_probe_threshold_follows_the_health_check_timeout() {
    let mut cfg = config_for("v1.31.2", "3.5.15-0");
    cfg.control_plane_health_timeout = std::time::Duration::from_secs(125);
    assert_eq!(etcd_pod(&cfg)["spec"]["containers"][0]["startupProbe"]["failureThreshold"], 13);
}
