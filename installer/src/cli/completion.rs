//! `airadm completion bash|zsh` (kubeadm: `kubeadm completion SHELL`): the shell completion
//! script for airadm, with the workflows' `phase` subcommands, to be sourced.

use clap::ValueEnum;

/// The shells kubeadm completes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// bash (`source <(airadm completion bash)`).
    Bash,
    /// zsh (`source <(airadm completion zsh)`).
    Zsh,
}

/// Writes the completion script for `shell` to standard output.
pub fn run(shell: Shell) -> anyhow::Result<()> {
    let mut command = super::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
    };
    // Into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "airadm", &mut script);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
    Ok(())
}
