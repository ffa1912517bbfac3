//! A workflow phase as data (kubeadm: cmd/kubeadm/app/cmd/phases/workflow/phase.go): its name,
//! aliases, help, sub-phases, the flags its `phase` subcommand takes, and the function it runs.

use std::future::Future;
use std::pin::Pin;

/// What a phase's run function returns: it borrows the workflow's data for as long as it runs.
pub type PhaseFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// A phase's action.
pub type RunFn<D> = Box<dyn for<'a> Fn(&'a mut D) -> PhaseFuture<'a>>;

/// A condition checked before the action runs (kubeadm's `RunIf`): `false` skips the phase.
pub type RunIfFn<D> = Box<dyn Fn(&D) -> anyhow::Result<bool>>;

/// One phase of a workflow, with its nested, ordered sub-phases.
pub struct Phase<D> {
    /// kubeadm's name, verbatim (`upload-config`); unique among its siblings.
    pub name: &'static str,
    /// Other names of its `phase` subcommand (`uploadconfig`).
    pub aliases: &'static [&'static str],
    /// One line in the workflow's help.
    pub short: String,
    /// The `phase` subcommand's long help.
    pub long: String,
    /// The `phase` subcommand's example.
    pub example: &'static str,
    /// Left out of the help and of the `phase` subcommands.
    pub hidden: bool,
    /// Sub-phases, run right after their parent.
    pub phases: Vec<Phase<D>>,
    /// The `all` sub-phase: its subcommand runs the parent with every sibling; it runs nothing itself.
    pub run_all_siblings: bool,
    /// The action (`None` for groups).
    pub run: Option<RunFn<D>>,
    /// Checked before the action.
    pub run_if: Option<RunIfFn<D>>,
    /// The workflow command's flags the phase's subcommand takes (kubeadm's `InheritFlags`).
    pub inherit_flags: Vec<&'static str>,
    /// Phases that must run before this one when it runs (kubeadm's `Dependencies`).
    pub dependencies: &'static [&'static str],
}

impl<D> Phase<D> {
    /// A phase with nothing but a name and its help line.
    pub fn new(name: &'static str, short: impl Into<String>) -> Self {
        Self {
            name,
            aliases: &[],
            short: short.into(),
            long: String::new(),
            example: "",
            hidden: false,
            phases: Vec::new(),
            run_all_siblings: false,
            run: None,
            run_if: None,
            inherit_flags: Vec::new(),
            dependencies: &[],
        }
    }

    /// kubeadm's `all` sub-phase: runs the parent and all its sub-phases.
    pub fn all(short: impl Into<String>, inherit_flags: &[&'static str]) -> Self {
        Self { run_all_siblings: true, ..Self::new("all", short) }.inherit(inherit_flags)
    }

    /// Sets the action.
    #[must_use]
    pub fn run(mut self, run: impl for<'a> Fn(&'a mut D) -> PhaseFuture<'a> + 'static) -> Self {
        self.run = Some(Box::new(run));
        self
    }

    /// Sets the condition checked before the action.
    #[must_use]
    pub fn run_if(mut self, run_if: impl Fn(&D) -> anyhow::Result<bool> + 'static) -> Self {
        self.run_if = Some(Box::new(run_if));
        self
    }

    /// Left out of the help and the `phase` subcommands (kubeadm's `Hidden`).
    #[must_use]
    pub fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    /// Sets the sub-phases.
    #[must_use]
    pub fn phases(mut self, phases: Vec<Self>) -> Self {
        self.phases = phases;
        self
    }

    /// Adds flags the phase's subcommand takes.
    #[must_use]
    pub fn inherit(mut self, flags: &[&'static str]) -> Self {
        self.inherit_flags.extend_from_slice(flags);
        self
    }

    /// Sets the aliases.
    #[must_use]
    pub fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Sets the long help.
    #[must_use]
    pub fn long(mut self, long: impl Into<String>) -> Self {
        self.long = long.into();
        self
    }

    /// Sets the example.
    #[must_use]
    pub fn example(mut self, example: &'static str) -> Self {
        self.example = example;
        self
    }

    /// Sets the dependencies.
    #[must_use]
    pub fn dependencies(mut self, dependencies: &'static [&'static str]) -> Self {
        self.dependencies = dependencies;
        self
    }
}

/// A synchronous action as a phase future.
pub fn ready<'a>(result: anyhow::Result<()>) -> PhaseFuture<'a> {
    Box::pin(std::future::ready(result))
}
