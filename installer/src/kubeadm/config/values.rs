//! Value syntaxes the configuration shares with Go: `host:port` (`net.JoinHostPort`,
//! `net.SplitHostPort`), the indexed address of a CIDR (`netutils.GetIndexedIP`), Go durations.

use std::net::IpAddr;
use std::time::Duration;

use super::{ConfigError, invalid};

/// `host:port`, IPv6 hosts bracketed (Go's `net.JoinHostPort`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Splits `host[:port]` (`[v6]:port` too).
pub fn split_host_port(endpoint: &str) -> (&str, Option<u16>) {
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (endpoint, None),
    }
}

/// The `index`th address of `cidr` (`netutils.GetIndexedIP`).
pub fn indexed_ip(cidr: &str, index: u128) -> Result<IpAddr, ConfigError> {
    let bad = || invalid(format!("networking.serviceSubnet: `{cidr}` is not a valid CIDR"));
    let (addr, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    Ok(match addr {
        IpAddr::V4(v4) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            IpAddr::V4(((u32::from(v4) & mask) + u32::try_from(index).map_err(|_| bad())?).into())
        }
        IpAddr::V6(v6) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            IpAddr::V6(((u128::from(v6) & mask) + index).into())
        }
        _ => return Err(bad()),
    })
}

/// Parses a Go duration (`8760h0m0s`, `4m`, `1.5h`, `30s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}
