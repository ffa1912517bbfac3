//! `token list`'s table (kubeadm: cmd/kubeadm/app/cmd/token.go `formatBootstrapToken`, printed
//! through a `tabwriter` of min width 10, padding 3, one per token, the header with the first),
//! from the bootstrap token Secrets (`BootstrapTokenFromSecret`). Pure.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const COLUMNS: [&str; 6] = ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"];

/// The table `token list` prints for `secrets` at `now`.
pub fn table(secrets: &[Secret], now: SystemTime) -> String {
    let mut out = String::new();
    for (i, secret) in secrets.iter().filter_map(|s| row(s, now)).enumerate() {
        let mut lines = Vec::new();
        if i == 0 {
            lines.push(COLUMNS.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
        }
        lines.push(secret);
        out.push_str(&tabwriter(&lines));
    }
    out
}

/// One token's cells, as kubeadm pads them before the tabwriter sees them.
fn row(secret: &Secret, now: SystemTime) -> Option<Vec<String>> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| data.get(key).map(|v| String::from_utf8_lossy(&v.0).into_owned());
    let token = format!("{}.{}", text("token-id")?, text("token-secret")?);
    let expires = text("expiration").and_then(|e| OffsetDateTime::parse(&e, &Rfc3339).ok());
    let (ttl, expires) = match expires {
        Some(at) => {
            let left = SystemTime::from(at).duration_since(now).unwrap_or(Duration::ZERO);
            (
                short_human_duration(left),
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                    at.year(),
                    u8::from(at.month()),
                    at.day(),
                    at.hour(),
                    at.minute(),
                    at.second()
                ),
            )
        }
        None => ("<forever>".to_owned(), "<never>".to_owned()),
    };
    let mut usages: Vec<&str> = data
        .iter()
        .filter(|(k, v)| k.starts_with("usage-bootstrap-") && v.0 == b"true")
        .map(|(k, _)| &k["usage-bootstrap-".len()..])
        .collect();
    usages.sort_unstable();
    let usages = if usages.is_empty() { "<none>".to_owned() } else { usages.join(",") };
    let description = text("description").filter(|d| !d.is_empty()).unwrap_or_else(|| "<none>".into());
    let groups = text("auth-extra-groups").filter(|g| !g.is_empty()).unwrap_or_else(|| "<none>".into());
    Some(vec![token, format!("{ttl:<9}"), expires, format!("{usages:<22}"), format!("{description:<56}"), groups])
}

/// apimachinery's `duration.ShortHumanDuration` for a duration not in the past.
fn short_human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s if s < 86400 * 365 => format!("{}d", s / 86400),
        s => format!("{}y", s / 86400 / 365),
    }
}

/// Go's `text/tabwriter` (min width 10, padding 3, spaces, no flags) over `lines` of cells, each
/// line's last cell left as it is. A line of one cell (no tab) ends the aligned block, as in Go.
pub(crate) fn tabwriter(lines: &[Vec<String>]) -> String {
    let mut out = String::new();
    for block in lines.split_inclusive(|line| line.len() <= 1) {
        let columns = block.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; columns.saturating_sub(1)];
        for line in block {
            for (i, cell) in line.iter().enumerate().take(line.len().saturating_sub(1)) {
                widths[i] = widths[i].max((cell.chars().count() + 3).max(10));
            }
        }
        for line in block {
            for (i, cell) in line.iter().enumerate() {
                if i + 1 < line.len() {
                    out.push_str(&format!("{cell:<width$}", width = widths[i]));
                } else {
                    out.push_str(cell);
                }
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short_and_human() {
        let cases = [(5, "5s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (86399, "23h"), (86400, "1d"), (86400 * 400, "1y")];
        for (secs, text) in cases {
            assert_eq!(short_human_duration(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn cells_are_padded_to_the_widest_plus_three_at_least_ten() {
        let lines = vec![vec!["A".to_owned(), "BB".into(), "last".into()], vec!["CCCCCCCCCC".into(), "D".into(), "x".into()]];
        assert_eq!(tabwriter(&lines), format!("{:<13}{:<10}last\n{:<13}{:<10}x\n", "A", "BB", "CCCCCCCCCC", "D"));
    }
}
