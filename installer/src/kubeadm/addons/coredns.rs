//! CoreDNS's objects, as kubeadm renders them (kubeadm: cmd/kubeadm/app/phases/addons/dns/
//! manifests.go @008b3652, dns.go): ConfigMap `coredns`, ClusterRole and ClusterRoleBinding
//! `system:coredns`, ServiceAccount `coredns`, Deployment `coredns`, Service `kube-dns`, in the
//! order kubeadm creates them.

use serde_json::{Value, json};

use super::{AddonError, KUBE_SYSTEM};
use crate::kubeadm::InitConfig;
use crate::kubeadm::config::defaults::CONTROL_PLANE_TAINT;

/// kubeadm's `coreDNSReplicas`, used unless a `k8s-app=kube-dns` Deployment already exists.
pub const DEFAULT_REPLICAS: i64 = 2;

/// The objects of the CoreDNS addon, empty when `dns.disabled` is set.
pub fn coredns_objects(cfg: &InitConfig) -> Result<Vec<Value>, AddonError> {
    coredns_objects_with_replicas(cfg, DEFAULT_REPLICAS)
}

/// [`coredns_objects`] with the replica count kubeadm found on an existing DNS Deployment.
pub(crate) fn coredns_objects_with_replicas(cfg: &InitConfig, replicas: i64) -> Result<Vec<Value>, AddonError> {
    if dns_disabled(cfg) {
        return Ok(Vec::new());
    }
    let dns_ip = cfg.dns_ip().map_err(AddonError::DnsIp)?;
    Ok(vec![
        config_map(cfg),
        cluster_role(),
        cluster_role_binding(),
        service_account(),
        deployment(cfg, replicas),
        service(&dns_ip.to_string()),
    ])
}

/// `dns.disabled` in the ClusterConfiguration.
pub(crate) fn dns_disabled(cfg: &InitConfig) -> bool {
    cfg.cluster_document.dns.as_ref().and_then(|d| d.disabled).unwrap_or(false)
}

/// kubeadm's Corefile for the cluster's DNS domain and Kubernetes version.
pub fn corefile(cfg: &InitConfig) -> String {
    corefile_for(&cfg.dns_domain, cfg.version.at_least(32))
}

/// `cache_exceptions`: since v1.32 (kubernetes/kubernetes#128359) the cache plugin skips the
/// cluster domain, whose answers the kubernetes plugin already keeps current.
pub(crate) fn corefile_for(domain: &str, cache_exceptions: bool) -> String {
    // `{{- if .DNSDomain }}`: the block only appears for a non-empty domain.
    let cache = if cache_exceptions && !domain.is_empty() {
        format!("cache 30 {{\n       disable success {domain}\n       disable denial {domain}\n    }}")
    } else {
        "cache 30".to_owned()
    };
    format!(
        ".:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf {{
       max_concurrent 1000
    }}
    {cache}
    loop
    reload
    loadbalance
}}
"
    )
}

fn config_map(cfg: &InitConfig) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": KUBE_SYSTEM},
        "data": {"Corefile": corefile(cfg)},
    })
}

fn cluster_role() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "system:coredns"},
        "rules": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    })
}

fn cluster_role_binding() -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "system:coredns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
        "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": KUBE_SYSTEM}],
    })
}

fn service_account() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "coredns", "namespace": KUBE_SYSTEM},
    })
}

fn deployment(cfg: &InitConfig, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "coredns", "namespace": KUBE_SYSTEM, "labels": {"k8s-app": "kube-dns"}},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
            "template": {
                "metadata": {"labels": {"k8s-app": "kube-dns"}},
                "spec": pod_spec(cfg),
            },
        },
    })
}

fn pod_spec(cfg: &InitConfig) -> Value {
    json!({
        "priorityClassName": "system-cluster-critical",
        "serviceAccountName": "coredns",
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [{"key": "k8s-app", "operator": "In", "values": ["kube-dns"]}]},
                "topologyKey": "kubernetes.io/hostname",
            },
        }]}},
        "tolerations": [
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": CONTROL_PLANE_TAINT, "effect": "NoSchedule"},
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [container(cfg)],
        "dnsPolicy": "Default",
        "volumes": [{
            "name": "config-volume",
            "configMap": {"name": "coredns", "items": [{"key": "Corefile", "path": "Corefile"}]},
        }],
    })
}

fn container(cfg: &InitConfig) -> Value {
    // kubeadm v1.34 (kubernetes/kubernetes#131587): the probes name their ports, which the
    // container then declares; before, they used 8080 and 8181 directly.
    let named = cfg.version.at_least(34);
    let mut ports = vec![
        json!({"containerPort": 53, "name": "dns", "protocol": "UDP"}),
        json!({"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"}),
        json!({"containerPort": 9153, "name": "metrics", "protocol": "TCP"}),
    ];
    let (liveness_port, readiness_port) = if named {
        ports.push(json!({"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"}));
        ports.push(json!({"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"}));
        (json!("liveness-probe"), json!("readiness-probe"))
    } else {
        (json!(8080), json!(8181))
    };
    json!({
        "name": "coredns",
        "image": cfg.images.coredns,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"memory": "170Mi"}, "requests": {"cpu": "100m", "memory": "70Mi"}},
        "args": ["-conf", "/etc/coredns/Corefile"],
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": true}],
        "ports": ports,
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": liveness_port, "scheme": "HTTP"},
            "initialDelaySeconds": 60,
            "timeoutSeconds": 5,
            "successThreshold": 1,
            "failureThreshold": 5,
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": readiness_port, "scheme": "HTTP"}},
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
            "readOnlyRootFilesystem": true,
        },
    })
}

/// kubeadm's Service template has no `ipFamilies`/`ipFamilyPolicy`: on a dual-stack cluster the
/// Service is single-stack, in the family of the first service CIDR (where the DNS IP lives).
fn service(dns_ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "labels": {
                "k8s-app": "kube-dns",
                "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS",
            },
            "name": "kube-dns",
            "namespace": KUBE_SYSTEM,
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
            // kubeadm: without it, an update of the Service between versions is rejected
            // ("metadata.resourceVersion: Invalid value: \"\": must be specified for an update").
            "resourceVersion": "0",
        },
        "spec": {
            "clusterIP": dns_ip,
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            "selector": {"k8s-app": "kube-dns"},
        },
    })
}
