//! The default pod network airadm gives a node, which kubeadm leaves to the user: a CNI
//! conflist of the reference plugins the bundle carries (`bridge` with `host-local` IPAM for the
//! node's pod CIDRs, then `portmap`; the runtime runs `loopback` itself), for a cluster with no
//! network add-on to pull. Pure: CIDRs in, bytes out (the `cni` phase does the IO).
//!
//! Pods of one node share the bridge `cni0`, whose address is their gateway; traffic leaving the
//! node's pod CIDR is masqueraded. Pods of different nodes reach each other when every node has
//! a route to each other node's pod CIDR through that node (one L2 network: the harness of the
//! cluster test, or the datacenter's routers, set them).

use std::net::IpAddr;

/// Where the conflist is written: first in the runtime's order, so it is the one the node uses.
pub const CONFLIST: &str = "/etc/cni/net.d/10-airadm.conflist";
/// The CNI configuration directory containerd and cri-dockerd read.
pub const CONF_DIR: &str = "/etc/cni/net.d";
/// The network's name (host-local keeps its leases under `/var/lib/cni/networks/NAME`).
pub const NETWORK: &str = "airadm";
/// The node's pod bridge.
pub const BRIDGE: &str = "cni0";
/// The plugins the conflist runs (and the runtime's own `loopback`): the bundle's CNI binaries.
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "loopback"];

/// A pod CIDR that is not `ADDRESS/PREFIX` of IPv4 or IPv6.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("pod CIDR `{0}` is not an IPv4 or IPv6 ADDRESS/PREFIX")]
pub struct BadCidr(pub String);

/// The conflist for a node whose pod CIDRs are `cidrs` (its Node's `spec.podCIDRs`: one per IP
/// family), as JSON with a trailing newline.
pub fn conflist(cidrs: &[String]) -> Result<String, BadCidr> {
    let mut ranges = Vec::new();
    let mut routes = Vec::new();
    for cidr in cidrs {
        let (address, prefix) = cidr.split_once('/').ok_or_else(|| BadCidr(cidr.clone()))?;
        let address: IpAddr = address.parse().map_err(|_| BadCidr(cidr.clone()))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        prefix.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| BadCidr(cidr.clone()))?;
        ranges.push(serde_json::json!([{ "subnet": cidr }]));
        routes.push(serde_json::json!({ "dst": if address.is_ipv4() { "0.0.0.0/0" } else { "::/0" } }));
    }
    if ranges.is_empty() {
        return Err(BadCidr(String::new()));
    }
    let list = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": { "type": "host-local", "ranges": ranges, "routes": routes }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } }
        ]
    });
    let mut text = serde_json::to_string_pretty(&list).map_err(|_| BadCidr(String::new()))?;
    text.push('\n');
    Ok(text)
}

/// Whether a file name in [`CONF_DIR`] is one the runtime loads (libcni's extensions).
pub fn is_network_config(name: &str) -> bool {
    [".conf", ".conflist", ".json"].iter().any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_range_and_default_route_per_family() {
        let text = conflist(&["10.244.1.0/24".into(), "fd00:10:244:1::/64".into()]).unwrap();
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        let ipam = &list["plugins"][0]["ipam"];
        assert_eq!(ipam["ranges"], serde_json::json!([[{"subnet": "10.244.1.0/24"}], [{"subnet": "fd00:10:244:1::/64"}]]));
        assert_eq!(ipam["routes"], serde_json::json!([{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]));
        assert_eq!(list["plugins"][0]["bridge"], "cni0");
        assert_eq!(list["plugins"][1]["type"], "portmap");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn a_cidr_that_is_not_one_is_refused() {
        for bad in ["10.244.1.0", "10.244.1.0/33", "fd00::/129", "pods/24"] {
            assert_eq!(conflist(&[bad.into()]), Err(BadCidr(bad.into())), "{bad}");
        }
        assert!(conflist(&[]).is_err());
    }

    #[test]
    fn only_the_runtimes_extensions_are_network_configs() {
        assert!(is_network_config("10-airadm.conflist") && is_network_config("87-podman.conf") && is_network_config("x.json"));
        assert!(!is_network_config("README") && !is_network_config("10-airadm.conflist.tmp"));
    }
}
