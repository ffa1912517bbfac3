//! A workflow on the command line (kubeadm: `Runner.BindToCommand`): `CMD phase NAME [SUB]`
//! subcommands generated from the phase tree, each taking only the workflow command's flags its
//! phase inherits, and the phase list appended to the command's long help.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use super::phase::Phase;
use super::runner::{Entry, Runner, SEPARATOR};

/// Adds `phase` and its subcommands to `cmd`. Every phase subcommand takes `always` (the
/// workflow's own flags, such as `--bundle`) and its phase's inherited flags; the command's other
/// flags are there but hidden, and refused by [`selected`] when given.
pub fn bind<D>(runner: &Runner<D>, cmd: Command, always: &[&str]) -> Command {
    let name = cmd.get_name().to_owned();
    let args: Vec<clap::Arg> = cmd.get_arguments().cloned().collect();
    fn build<D>(phase: &Phase<D>, args: &[clap::Arg], always: &[&str]) -> Command {
        let mut sub = Command::new(phase.name).about(phase.short.clone()).visible_aliases(phase.aliases.iter().copied());
        if !phase.long.is_empty() {
            sub = sub.long_about(phase.long.clone());
        }
        if !phase.example.is_empty() {
            sub = sub.after_long_help(format!("Examples:\n{}", phase.example));
        }
        for arg in args {
            // Positional arguments (join's endpoint) go to every phase, as cobra's Args do.
            let takes =
                arg.is_positional() || arg.get_long().is_some_and(|long| always.contains(&long) || phase.inherit_flags.contains(&long));
            sub = sub.arg(arg.clone().hide(!takes));
        }
        let children: Vec<Command> = phase.phases.iter().filter(|p| !p.hidden).map(|p| build(p, args, always)).collect();
        if !children.is_empty() {
            sub = sub.subcommand_required(true).subcommands(children);
        }
        sub
    }
    let phases: Vec<Command> =
        runner.phases().iter().filter(|p| !p.hidden && !p.run_all_siblings).map(|p| build(p, &args, always)).collect();
    let phase = Command::new("phase")
        .about(format!("Use this command to invoke single phase of the \"{name}\" workflow"))
        .subcommand_required(true)
        .subcommands(phases);
    let about = cmd.get_about().map(ToString::to_string).unwrap_or_default();
    let long = format!("{about}\n\n{}\n", runner.help(&name));
    cmd.long_about(long).subcommand(phase)
}

/// The phase `CMD phase NAME [SUB]` selected: the filter to run it with (the parent's name for
/// an `all` sub-phase) and the matches holding its flags. A flag the phase does not take is
/// refused, naming the ones it does.
pub fn selected<'m, D>(runner: &Runner<D>, matches: &'m ArgMatches, cmd: &Command) -> anyhow::Result<Option<(String, &'m ArgMatches)>> {
    let Some(mut current) = matches.subcommand_matches("phase") else { return Ok(None) };
    let mut path: Vec<String> = Vec::new();
    let mut command =
        cmd.find_subcommand("phase").ok_or_else(|| anyhow::anyhow!("internal error: `{}` has no phase subcommand", cmd.get_name()))?;
    while let Some((name, sub)) = current.subcommand() {
        command = command.find_subcommand(name).ok_or_else(|| anyhow::anyhow!("internal error: no phase `{name}`"))?;
        path.push(command.get_name().to_owned());
        current = sub;
    }
    let name = path.join(SEPARATOR);
    let entries = runner.entries();
    let entry: &Entry<'_, D> =
        entries.iter().find(|e| e.name == name).ok_or_else(|| anyhow::anyhow!("internal error: no phase `{name}`"))?;
    for arg in command.get_arguments().filter(|a| a.is_hide_set()) {
        if current.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            let takes: Vec<String> =
                command.get_arguments().filter(|a| !a.is_hide_set()).filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
            anyhow::bail!(
                "unknown flag: --{} (`{} phase {}` takes {})",
                arg.get_long().unwrap_or_default(),
                cmd.get_name(),
                path.join(" "),
                takes.join(", ")
            );
        }
    }
    let filter = match (entry.phase.run_all_siblings, entry.parent) {
        (true, Some(parent)) => entries[parent].name.clone(),
        _ => name,
    };
    Ok(Some((filter, current)))
}

/// clap binds a flag given before `phase` to the workflow command itself, where it would be lost:
/// refused, saying where it goes.
pub fn refuse_flags_before_phase(matches: &ArgMatches, command: &Command, filter: &str) -> anyhow::Result<()> {
    if let Some(arg) = command.get_arguments().find(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)) {
        let name = match arg.get_long() {
            Some(long) => format!("--{long}"),
            None => arg.get_id().to_string().to_uppercase(),
        };
        anyhow::bail!(
            "{name} is given before `phase`: put every flag after the phase's name (`airadm {} phase {} {name} …`)",
            command.get_name(),
            filter.replace('/', " ")
        );
    }
    Ok(())
}
