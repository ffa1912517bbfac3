//! `preflight` phase of reset (kubeadm: cmd/phases/reset/preflight.go): unless `--force` or
//! `--dry-run`, the user confirms; then the root check.

use std::io::{BufRead as _, Write as _};

use super::ResetData;
use super::data::warn;
use crate::kubeadm::preflight::{self, Finding, Probe as _, Severity};
use crate::workflow::Phase;

pub(super) fn phase() -> Phase<ResetData> {
    Phase::new("preflight", "Run reset pre-flight checks")
        .aliases(&["pre-flight"])
        .long("Run pre-flight checks for kubeadm reset.")
        .inherit(&["ignore-preflight-errors", "force", "dry-run"])
        .run(|data: &mut ResetData| Box::pin(async move { run(data) }))
}

fn run(data: &mut ResetData) -> anyhow::Result<()> {
    if !data.cfg.force && !data.cfg.dry_run {
        warn("[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.")?;
        confirm()?;
    }
    data.say(vec!["[preflight] Running pre-flight checks".into()])?;
    let probe = preflight::HostProbe { root: &data.node, bin_dir: "/usr/local/bin" };
    let mut findings = Vec::new();
    if !probe.is_root() {
        findings.push(Finding {
            name: "IsPrivilegedUser".into(),
            severity: Severity::Error,
            message: "user is not running as root".into(),
        });
    }
    let warnings = preflight::evaluate(&findings, &data.cfg.ignore_preflight_errors)?;
    data.say(warnings)
}

/// kubeadm's `InteractivelyConfirmAction("reset", "Are you sure you want to proceed?")`.
fn confirm() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "[reset] Are you sure you want to proceed? [y/N]: ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim_end_matches(['\n', '\r']).to_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    anyhow::bail!("won't proceed; the user didn't answer (Y|y) in order to continue (give --force to reset without asking)")
}
