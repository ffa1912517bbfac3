//! `airadm reset [phase NAME]`, with kubeadm's reset flags.

use std::path::PathBuf;

use clap::{ArgMatches, Args, FromArgMatches as _};

use crate::kubeadm::config::ResetFlags;
use crate::phases::reset::ResetOptions;

/// `airadm reset`.
#[derive(Debug, Args)]
pub struct ResetCommand {
    /// The phase `airadm reset phase NAME` selected.
    #[arg(skip)]
    pub phase: Option<String>,
    /// kubeadm's flags and ours.
    #[command(flatten)]
    pub args: ResetArgs,
}

impl ResetCommand {
    /// Takes the phase subcommand's selection and flags from `matches` (those of `reset`).
    pub fn select_phase(&mut self, matches: &ArgMatches, command: &clap::Command) -> anyhow::Result<()> {
        if let Some((filter, leaf)) = crate::workflow::command::selected(&crate::phases::reset::runner(), matches, command)? {
            crate::workflow::command::refuse_flags_before_phase(matches, command, &filter)?;
            self.args = ResetArgs::from_arg_matches(leaf)?;
            self.phase = Some(filter);
        }
        Ok(())
    }

    /// The options of the reset workflow.
    pub fn options(self) -> anyhow::Result<ResetOptions> {
        let a = self.args;
        // kubeadm's ValidateMixedArguments: with --config, only its allowed flags.
        let mixed: Vec<&str> = [
            ("cert-dir", a.cert_dir.is_some()),
            ("cleanup-tmp-dir", a.cleanup_tmp_dir),
            ("cri-socket", a.cri_socket.is_some()),
            ("force", a.force),
            ("skip-phases", !a.skip_phases.is_empty()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if a.config.is_some() && !mixed.is_empty() {
            anyhow::bail!("can not mix '--config' with arguments [{}]: set them in the --config file instead", mixed.join(" "));
        }
        Ok(ResetOptions {
            config: a.config,
            flags: ResetFlags {
                cert_dir: a.cert_dir,
                cri_socket: a.cri_socket,
                force: a.force,
                dry_run: a.dry_run,
                cleanup_tmp_dir: a.cleanup_tmp_dir,
                ignore_preflight_errors: a.ignore_preflight_errors,
                skip_phases: a.skip_phases,
            },
            kubeconfig: a.kubeconfig,
            rootfs: a.rootfs,
            phase: self.phase,
        })
    }
}

/// Flags of `airadm reset` (kubeadm's, plus --rootfs).
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The path to the directory where the certificates are stored. If specified, clean this directory.
    #[arg(long)]
    pub cert_dir: Option<String>,
    /// Cleanup the "/etc/kubernetes/tmp" directory.
    #[arg(long)]
    pub cleanup_tmp_dir: bool,
    /// Path to a kubeadm configuration file (a v1beta4 ResetConfiguration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Path to the CRI socket to connect (default: the one init or join gave the kubelet, else detected).
    #[arg(long)]
    pub cri_socket: Option<String>,
    /// Don't apply any changes; just output what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Reset the node without prompting for confirmation.
    #[arg(long, short)]
    pub force: bool,
    /// A list of checks whose errors will be shown as warnings. Example: 'IsPrivilegedUser,Swap'. Value 'all' ignores errors from all checks.
    #[arg(long, value_delimiter = ',')]
    pub ignore_preflight_errors: Vec<String>,
    /// The kubeconfig file to use when talking to the cluster (a node path).
    #[arg(long, default_value = "/etc/kubernetes/admin.conf")]
    pub kubeconfig: String,
    /// List of phases to be skipped.
    #[arg(long, value_delimiter = ',')]
    pub skip_phases: Vec<String>,
    /// The node's root: reset the files below this directory.
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
}
