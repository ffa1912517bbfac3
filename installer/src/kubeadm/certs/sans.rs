//! Subject alternative names of the serving certificates, as kubeadm computes them
//! (kubeadm v1.31: cmd/kubeadm/app/util/pkiutil/pki_helpers.go `GetAPIServerAltNames`,
//! `getAltNames`, `appendSANsToAltNames`, `RemoveDuplicateAltNames`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::kubeadm::InitConfig;
use crate::kubeadm::config::ConfigError;

/// DNS names and IPs of one certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AltNames {
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ips: Vec<IpAddr>,
}

impl AltNames {
    /// `RemoveDuplicateAltNames`: DNS names sorted and de-duplicated (`sets.List`), IPs
    /// de-duplicated keeping the first occurrence.
    pub fn normalized(mut self) -> Self {
        self.dns_names = self.dns_names.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut seen = BTreeSet::new();
        self.ips.retain(|ip| seen.insert(*ip));
        self
    }

    /// `appendSANsToAltNames`: each extra SAN becomes an IP, else a DNS name if it is an
    /// RFC 1123 subdomain (or `*.` one); anything else is left out with kubeadm's warning.
    fn append(&mut self, sans: &[String], cert_file: &str, warnings: &mut Vec<String>) {
        for san in sans {
            if let Some(ip) = parse_ip_sloppy(san) {
                self.ips.push(ip);
            } else if is_dns1123_subdomain(san) || san.strip_prefix("*.").is_some_and(is_dns1123_subdomain) {
                self.dns_names.push(san.clone());
            } else {
                warnings.push(format!(
                    "[certificates] WARNING: '{san}' was not added to the '{cert_file}' SAN, because it is not a valid IP or RFC-1123 compliant DNS entry"
                ));
            }
        }
    }
}

/// `GetAPIServerAltNames`: the node name, `kubernetes`, `kubernetes.default`,
/// `kubernetes.default.svc`, `kubernetes.default.svc.<dnsDomain>`; the API service IP and the
/// advertise address; the control-plane endpoint's host; then `apiServer.certSANs`.
/// Returns the names (normalized) and the warnings for SANs left out.
pub fn api_server(cfg: &InitConfig) -> Result<(AltNames, Vec<String>), ConfigError> {
    let mut names = AltNames {
        dns_names: vec![
            cfg.node_name.clone(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
            format!("kubernetes.default.svc.{}", cfg.dns_domain),
        ],
        ips: vec![cfg.api_server_virtual_ip()?.to_canonical(), cfg.advertise_address.to_canonical()],
    };
    if let Some(host) = cfg.control_plane_host().filter(|h| !h.is_empty()) {
        match parse_ip_sloppy(host) {
            Some(ip) => names.ips.push(ip),
            None => names.dns_names.push(host.to_owned()),
        }
    }
    let mut warnings = Vec::new();
    names.append(cfg.api_server.cert_sans.as_deref().unwrap_or_default(), "apiserver.crt", &mut warnings);
    Ok((names.normalized(), warnings))
}

/// `getAltNames` for `etcd/server.crt` (`server`) or `etcd/peer.crt`: the node name and
/// `localhost`; the advertise address, 127.0.0.1 and ::1; then `etcd.local.serverCertSANs` or
/// `peerCertSANs`.
pub fn etcd(cfg: &InitConfig, server: bool) -> (AltNames, Vec<String>) {
    let mut names = AltNames {
        dns_names: vec![cfg.node_name.clone(), "localhost".into()],
        ips: vec![cfg.advertise_address.to_canonical(), Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
    };
    let mut warnings = Vec::new();
    if let Some(local) = cfg.local_etcd() {
        let (sans, file) = if server { (&local.server_cert_sans, "etcd/server.crt") } else { (&local.peer_cert_sans, "etcd/peer.crt") };
        names.append(sans.as_deref().unwrap_or_default(), file, &mut warnings);
    }
    (names.normalized(), warnings)
}

/// `netutils.ParseIPSloppy`: like `net.ParseIP`, but IPv4 octets may have leading zeros
/// (read as decimal). IPv4-mapped IPv6 addresses become IPv4, as Go encodes them.
pub fn parse_ip_sloppy(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let octets: Vec<&str> = text.split('.').collect();
    if octets.len() != 4 || octets.iter().any(|o| o.is_empty() || o.len() > 3 || !o.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut bytes = [0u8; 4];
    for (slot, octet) in bytes.iter_mut().zip(&octets) {
        *slot = octet.parse().ok()?;
    }
    Some(IpAddr::from(bytes))
}

/// `validation.IsDNS1123Subdomain`: at most 253 characters, dot-separated labels of lower-case
/// alphanumerics and `-`, starting and ending alphanumeric.
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}
