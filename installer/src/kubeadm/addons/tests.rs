//! The renderers against kubeadm's templates (KUBEADM.md §5.5/§5.6; manifests.go @008b3652 for
//! CoreDNS, @abd60651 for kube-proxy) and kubeproxy.go's defaulting.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{AddonError, coredns_objects, corefile, kube_proxy_configuration, kube_proxy_objects};
use crate::kubeadm::config::{self, ComponentImages, HostFacts, InitFlags};
use crate::kubeadm::{InitConfig, Version};

fn config(version: &str, yaml: &str) -> InitConfig {
    let docs = config::parse_documents(yaml, "test.yaml").unwrap();
    let host = HostFacts { hostname: "node".into(), default_address: Some("10.0.0.5".parse().unwrap()), cri_socket: None };
    let version = Version::parse(version).unwrap();
    let images = ComponentImages {
        proxy: format!("registry.k8s.io/kube-proxy:{version}"),
        coredns: "registry.k8s.io/coredns/coredns:v1.11.3".into(),
        ..Default::default()
    };
    config::resolve(docs, &InitFlags::default(), &host, &version, images).unwrap()
}

fn kind_and_name(object: &Value) -> String {
    format!("{}/{}", object["kind"].as_str().unwrap(), object["metadata"]["name"].as_str().unwrap())
}

/// KUBEADM.md §5.5, the ConfigMap's block scalar with its 4-space indent removed.
const COREFILE_CLUSTER_LOCAL: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
";

#[test]
fn corefile_is_kubeadms_template() {
    assert_eq!(corefile(&config("v1.32.0", "")), COREFILE_CLUSTER_LOCAL);
    // Before kubernetes/kubernetes#128359 (v1.32) the cache plugin had no block.
    let plain = COREFILE_CLUSTER_LOCAL
        .replace("cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n    }", "cache 30");
    assert_eq!(corefile(&config("v1.31.2", "")), plain);
}

#[test]
fn coredns_objects_come_in_kubeadms_order() {
    let objects = coredns_objects(&config("v1.33.1", "")).unwrap();
    let names: Vec<String> = objects.iter().map(kind_and_name).collect();
    assert_eq!(
        names,
        [
            "ConfigMap/coredns",
            "ClusterRole/system:coredns",
            "ClusterRoleBinding/system:coredns",
            "ServiceAccount/coredns",
            "Deployment/coredns",
            "Service/kube-dns"
        ]
    );
    assert_eq!(objects[5]["spec"]["clusterIP"], "10.96.0.10");
    assert_eq!(objects[5]["metadata"]["resourceVersion"], "0");
    assert_eq!(objects[4]["spec"]["replicas"], 2);
    let container = &objects[4]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.k8s.io/coredns/coredns:v1.11.3");
    assert_eq!(container["imagePullPolicy"], "IfNotPresent");
}

#[test]
fn probe_ports_are_named_from_v1_34() {
    let probe_ports = |version: &str| {
        let objects = coredns_objects(&config(version, "")).unwrap();
        let container = objects[4]["spec"]["template"]["spec"]["containers"][0].clone();
        let ports: Vec<Value> = container["ports"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
        (container["livenessProbe"]["httpGet"]["port"].clone(), container["readinessProbe"]["httpGet"]["port"].clone(), ports)
    };
    assert_eq!(probe_ports("v1.33.4"), (json!(8080), json!(8181), vec![json!("dns"), json!("dns-tcp"), json!("metrics")]));
    let (liveness, readiness, ports) = probe_ports("v1.34.0");
    assert_eq!((liveness, readiness), (json!("liveness-probe"), json!("readiness-probe")));
    assert_eq!(ports, ["dns", "dns-tcp", "metrics", "liveness-probe", "readiness-probe"]);
}

#[test]
fn disabled_addons_render_nothing() {
    let yaml = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ndns:\n  disabled: true\nproxy:\n  disabled: true\n";
    let cfg = config("v1.31.0", yaml);
    assert!(coredns_objects(&cfg).unwrap().is_empty());
    assert!(kube_proxy_objects(&cfg).unwrap().is_empty());
}

#[test]
fn kube_proxy_defaults_follow_kubeproxy_go() {
    let cfg =
        config("v1.31.0", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0/16\n");
    // Over the zero values kubeadm v1.31's Go struct marshals (checked against real kubeadm in
    // the api_phases end-to-end test).
    let defaults = json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "bindAddress": "0.0.0.0",
        "clusterCIDR": "10.244.0.0/16",
        "clientConnection": {"kubeconfig": "/var/lib/kube-proxy/kubeconfig.conf"},
    });
    let doc = kube_proxy_configuration(&cfg).unwrap();
    assert_eq!(doc, crate::kubeadm::skeleton::dress(31, crate::kubeadm::skeleton::Kind::KubeProxyConfiguration, &defaults));
    assert_eq!(doc["mode"], "", "a zero value Go writes");
    // No pod subnet: no clusterCIDR.
    assert_eq!(kube_proxy_configuration(&config("v1.31.0", "")).unwrap()["clusterCIDR"], "");
}

#[test]
fn user_kube_proxy_values_win_over_defaults() {
    let yaml = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n\
                bindAddress: 10.0.0.5\nclusterCIDR: 192.168.0.0/16\nclientConnection:\n  qps: 10\n";
    let doc = kube_proxy_configuration(&config("v1.31.0", yaml)).unwrap();
    assert_eq!(doc["mode"], "ipvs");
    assert_eq!(doc["bindAddress"], "10.0.0.5");
    assert_eq!(doc["clusterCIDR"], "192.168.0.0/16");
    assert_eq!(
        (doc["clientConnection"]["qps"].as_i64(), doc["clientConnection"]["kubeconfig"].as_str()),
        (Some(10), Some("/var/lib/kube-proxy/kubeconfig.conf"))
    );
}

#[test]
fn a_clientconnection_that_is_not_a_mapping_is_rejected() {
    let yaml = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclientConnection: 3\n";
    let err = kube_proxy_configuration(&config("v1.31.0", yaml)).unwrap_err();
    assert!(matches!(err, AddonError::ProxyConfiguration { .. }), "{err}");
}

#[test]
fn only_a_generated_kube_proxy_configuration_is_signed() {
    let objects = kube_proxy_objects(&config("v1.31.0", "")).unwrap();
    let map = &objects[0];
    let data = &map["data"];
    let expected = Sha256::digest(format!("{}{}", data["config.conf"].as_str().unwrap(), data["kubeconfig.conf"].as_str().unwrap()));
    assert_eq!(map["metadata"]["annotations"]["kubeadm.kubernetes.io/component-config.hash"], format!("sha256:{}", hex::encode(expected)));
    let yaml = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n";
    let user = kube_proxy_objects(&config("v1.31.0", yaml)).unwrap();
    assert!(user[0]["metadata"].get("annotations").is_none());
}

#[test]
fn kube_proxy_kubeconfig_points_at_the_control_plane_endpoint() {
    let cfg = config("v1.35.0", "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: lb.example:8443\n");
    let objects = kube_proxy_objects(&cfg).unwrap();
    let kubeconfig = objects[0]["data"]["kubeconfig.conf"].as_str().unwrap();
    assert!(kubeconfig.contains("\n    server: https://lb.example:8443\n"), "{kubeconfig}");
    assert!(kubeconfig.ends_with("tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"));
    let names: Vec<String> = objects.iter().map(kind_and_name).collect();
    assert_eq!(
        names,
        [
            "ConfigMap/kube-proxy",
            "DaemonSet/kube-proxy",
            "ServiceAccount/kube-proxy",
            "ClusterRoleBinding/kubeadm:node-proxier",
            "Role/kube-proxy",
            "RoleBinding/kube-proxy"
        ]
    );
    assert_eq!(objects[1]["spec"]["template"]["spec"]["containers"][0]["image"], "registry.k8s.io/kube-proxy:v1.35.0");
}
