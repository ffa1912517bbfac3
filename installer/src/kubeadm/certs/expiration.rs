//! `certs check-expiration` (kubeadm: cmd/kubeadm/app/cmd/certs.go `newCmdCertsExpiration`,
//! phases/certs/renewal/manager.go): every leaf certificate of kubeadm's list (etcd's left out
//! with an external etcd) and the client certificates of admin.conf, super-admin.conf,
//! controller-manager.conf and scheduler.conf, sorted by name, then the CAs; each with its
//! expiry, the time left, its CA, and whether it is externally managed (its CA's key absent).

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use time::OffsetDateTime;

use super::pki;
use super::{CERTS, CertsError};
use crate::kubeadm::files::Root;

/// One row: `expires` is `None` for a missing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiration {
    /// `apiserver`, `admin.conf`, `ca`.
    pub name: String,
    /// NotAfter.
    pub expires: Option<SystemTime>,
    /// The signing CA's name (leaves only).
    pub ca: Option<&'static str>,
    /// The CA's key is not on the node.
    pub externally_managed: bool,
}

/// Reads the certificates under `cert_dir` and `/etc/kubernetes` (node paths) of `root`.
pub fn read(root: &Root, cert_dir: &str, external_etcd: bool) -> Result<(Vec<Expiration>, Vec<Expiration>), CertsError> {
    let path = |base: &str| format!("{}/{base}.crt", cert_dir.trim_end_matches('/'));
    let key_missing = |ca: &str| {
        let base = CERTS.iter().find(|c| c.name == ca).map_or(ca, |c| c.base_name);
        !root.exists(format!("{}/{base}.key", cert_dir.trim_end_matches('/')))
    };
    let not_after = |pem: Option<Vec<u8>>, file: &str| -> Result<Option<SystemTime>, CertsError> {
        let Some(pem) = pem else { return Ok(None) };
        let invalid = |source| CertsError::Invalid { path: file.to_owned(), source };
        let der = pki::first_certificate(&pem).map_err(invalid)?;
        let cert = pki::parse(&der).map_err(invalid)?;
        Ok(Some(SystemTime::from(cert.validity().not_after.to_datetime())))
    };
    let read = |file: &str| root.read(file).map_err(|source| CertsError::Read { path: file.to_owned(), source });
    let skip = |spec: &super::CertSpec| external_etcd && super::create::is_etcd(spec);
    // kubeadm's `UsingExternalCA`: without ca.key, the API server's certificate must be there.
    if key_missing("ca") && !root.exists(path("apiserver")) {
        let missing = CertsError::Missing { path: path("apiserver") };
        return Err(CertsError::ExternalCa { leaf: "apiserver", ca: "ca", source: Box::new(missing) });
    }
    let mut leaves = Vec::new();
    for spec in CERTS.iter().filter(|c| c.ca.is_some() && !skip(c)) {
        let file = path(spec.base_name);
        let ca = spec.ca.unwrap_or("ca");
        leaves.push(Expiration {
            name: spec.name.into(),
            expires: not_after(read(&file)?, &file)?,
            ca: Some(ca),
            externally_managed: key_missing(ca),
        });
    }
    for (name, _) in super::renew::KUBECONFIGS {
        let file = format!("/etc/kubernetes/{name}");
        let pem = read(&file)?.and_then(|bytes| client_certificate(&bytes));
        leaves.push(Expiration {
            name: (*name).into(),
            expires: not_after(pem, &file)?,
            ca: Some("ca"),
            externally_managed: key_missing("ca"),
        });
    }
    leaves.sort_by(|a, b| a.name.cmp(&b.name));
    let mut cas = Vec::new();
    for spec in CERTS.iter().filter(|c| c.ca.is_none() && !skip(c)) {
        let file = path(spec.base_name);
        cas.push(Expiration {
            name: spec.name.into(),
            expires: not_after(read(&file)?, &file)?,
            ca: None,
            externally_managed: key_missing(spec.name),
        });
    }
    cas.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((leaves, cas))
}

/// The PEM of a kubeconfig's (first) user's `client-certificate-data`.
fn client_certificate(kubeconfig: &[u8]) -> Option<Vec<u8>> {
    let doc: serde_json::Value = serde_saphyr::from_str(std::str::from_utf8(kubeconfig).ok()?).ok()?;
    let data = doc["users"].get(0)?["user"]["client-certificate-data"].as_str()?;
    base64::engine::general_purpose::STANDARD.decode(data).ok()
}

/// kubeadm's text table at `now`.
pub fn table(leaves: &[Expiration], cas: &[Expiration], now: SystemTime) -> String {
    let yes_no = |b: bool| format!("{:<8}", if b { "yes" } else { "no" });
    let mut lines = vec![vec![
        "CERTIFICATE".into(),
        "EXPIRES".into(),
        "RESIDUAL TIME".into(),
        "CERTIFICATE AUTHORITY".into(),
        "EXTERNALLY MANAGED".into(),
    ]];
    for e in leaves {
        lines.push(match e.expires {
            Some(at) => vec![e.name.clone(), date(at), residual(at, now), e.ca.unwrap_or_default().into(), yes_no(e.externally_managed)],
            None => vec![format!("!MISSING! {}", e.name), String::new(), String::new(), String::new(), String::new()],
        });
    }
    lines.push(vec![String::new()]);
    lines.push(vec!["CERTIFICATE AUTHORITY".into(), "EXPIRES".into(), "RESIDUAL TIME".into(), "EXTERNALLY MANAGED".into()]);
    for e in cas {
        lines.push(match e.expires {
            Some(at) => vec![e.name.clone(), date(at), residual(at, now), yes_no(e.externally_managed)],
            None => vec![format!("!MISSING! {}", e.name), String::new(), String::new(), String::new()],
        });
    }
    super::super::token::tabwriter(&lines)
}

/// Go's `Format("Jan 02, 2006 15:04 MST")` in UTC.
fn date(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!("{} {:02}, {} {:02}:{:02} UTC", MONTHS[usize::from(u8::from(t.month())) - 1], t.day(), t.year(), t.hour(), t.minute())
}

fn residual(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(left) => human_duration(left),
        Err(past) if past.duration() > Duration::from_secs(1) => "<invalid>".into(),
        Err(_) => "0s".into(),
    }
}

/// apimachinery's `duration.HumanDuration` for a duration not in the past.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    match hours {
        h if h < 8 => match minutes % 60 {
            0 => format!("{h}h"),
            m => format!("{h}h{m}m"),
        },
        h if h < 48 => format!("{h}h"),
        h if h < 24 * 8 => match h % 24 {
            0 => format!("{}d", h / 24),
            r => format!("{}d{r}h", h / 24),
        },
        h if h < 24 * 365 * 2 => format!("{}d", h / 24),
        h if h < 24 * 365 * 8 => match (h / 24) % 365 {
            0 => format!("{}y", h / 24 / 365),
            d => format!("{}y{d}d", h / 24 / 365),
        },
        h => format!("{}y", h / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_are_apimachinerys() {
        let day = 86400;
        let cases = [
            (90, "90s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (30 * 3600, "30h"),
            (3 * day + 5 * 3600, "3d5h"),
            (364 * day + 23 * 3600, "364d"),
            (3 * 365 * day + 10 * day, "3y10d"),
            (3652 * day, "10y"),
        ];
        for (secs, text) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), text, "{secs}");
        }
    }
}
