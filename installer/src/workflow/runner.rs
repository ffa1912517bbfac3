//! kubeadm's workflow runner (cmd/kubeadm/app/cmd/phases/workflow/runner.go): the phase tree
//! flattened in order, `/`-joined lower-case names, the phases a filter (`phase NAME`) and
//! `--skip-phases` select (each applying to a whole sub-tree), the dependency check, the run,
//! and the phase list of the workflow command's help.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use super::phase::Phase;

/// `certs/apiserver`.
pub const SEPARATOR: &str = "/";

/// A workflow: its phases in order.
pub struct Runner<D> {
    phases: Vec<Phase<D>>,
}

/// One phase of the flattened tree (kubeadm's `phaseRunner`).
pub struct Entry<'r, D> {
    /// The phase.
    pub phase: &'r Phase<D>,
    /// Index of its parent in [`Runner::entries`].
    pub parent: Option<usize>,
    /// Depth: 0 for top-level phases.
    pub level: usize,
    /// `certs/apiserver`: what `--skip-phases` and the filter name.
    pub name: String,
    /// `/apiserver`: how the help lists it.
    pub use_: String,
}

impl<D> Runner<D> {
    /// A workflow of these phases.
    pub fn new(phases: Vec<Phase<D>>) -> Self {
        Self { phases }
    }

    /// The top-level phases.
    pub fn phases(&self) -> &[Phase<D>] {
        &self.phases
    }

    /// Every phase in run order, parents before their sub-phases (kubeadm's
    /// `prepareForExecution`: a top-level `all` is left out).
    pub fn entries(&self) -> Vec<Entry<'_, D>> {
        fn add<'r, D>(entries: &mut Vec<Entry<'r, D>>, parent: Option<usize>, phase: &'r Phase<D>) {
            let own = clean_name(phase.name);
            let (name, use_, level) = match parent {
                Some(p) => (format!("{}{SEPARATOR}{own}", entries[p].name), format!("{SEPARATOR}{own}"), entries[p].level + 1),
                None => (own.clone(), own, 0),
            };
            entries.push(Entry { phase, parent, level, name, use_ });
            let me = entries.len() - 1;
            for child in &phase.phases {
                add(entries, Some(me), child);
            }
        }
        let mut entries = Vec::new();
        for phase in self.phases.iter().filter(|p| !p.run_all_siblings) {
            add(&mut entries, None, phase);
        }
        entries
    }

    /// Which phases run (indices into [`Runner::entries`], in order): all of them, or only the
    /// `filter`ed ones and their sub-trees, minus the `skip`ped ones and theirs; then each
    /// selected phase's dependencies must be selected before it.
    pub fn plan(&self, filter: &[String], skip: &[String]) -> anyhow::Result<Vec<usize>> {
        let entries = self.entries();
        let index: BTreeMap<&str, usize> = entries.iter().enumerate().map(|(i, e)| (e.name.as_str(), i)).collect();
        // Each phase's sub-tree (itself included).
        let subtree = |i: usize| -> Vec<usize> {
            let prefix = format!("{}{SEPARATOR}", entries[i].name);
            let mut tree = vec![i];
            tree.extend(entries.iter().enumerate().filter(|(_, e)| e.name.starts_with(&prefix)).map(|(j, _)| j));
            tree
        };
        let lookup = |name: &str, flag: &str| -> anyhow::Result<usize> {
            index.get(name).copied().with_context(|| {
                let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
                format!("invalid phase name: {name}{flag}: the phases are {}", names.join(", "))
            })
        };
        let mut run: BTreeSet<usize> = if filter.is_empty() { (0..entries.len()).collect() } else { BTreeSet::new() };
        for f in filter {
            run.extend(subtree(lookup(f, "")?));
        }
        for s in skip {
            for i in subtree(lookup(s, " (--skip-phases)")?) {
                run.remove(&i);
            }
        }
        // kubeadm checks dependencies by the phase's own name, against those already visited.
        let mut visited = BTreeSet::new();
        let mut missed: Vec<String> = Vec::new();
        for &i in &run {
            let phase = entries[i].phase;
            let missing: Vec<&str> = phase.dependencies.iter().copied().filter(|d| !visited.contains(d)).collect();
            if !missing.is_empty() {
                missed.push(format!("missing [{}] phase(s) needed by \"{}\" phase", missing.join(" "), phase.name));
            }
            visited.insert(phase.name);
        }
        anyhow::ensure!(
            missed.is_empty(),
            "unresolved dependencies: {}: run them in the same invocation, or the whole workflow",
            missed.join("; ")
        );
        Ok(run.into_iter().collect())
    }

    /// Runs the planned phases in order on `data`; an error names the phase it came from.
    pub async fn run(&self, plan: &[usize], data: &mut D) -> anyhow::Result<()> {
        let entries = self.entries();
        for &i in plan {
            let Entry { phase, name, .. } = &entries[i];
            anyhow::ensure!(
                !(phase.run_all_siblings && (phase.run.is_some() || phase.run_if.is_some())),
                "internal error: phase {name} runs all its siblings and can not have a run function"
            );
            if let Some(run_if) = &phase.run_if
                && !run_if(data).with_context(|| format!("run condition of phase \"{name}\""))?
            {
                continue;
            }
            if let Some(run) = &phase.run {
                run(data).await.with_context(|| format!("phase \"{name}\""))?;
            }
        }
        Ok(())
    }

    /// The phase list of the workflow command's long help, as kubeadm prints it.
    pub fn help(&self, command: &str) -> String {
        let entries: Vec<Entry<'_, D>> = self.entries().into_iter().filter(|e| !e.phase.hidden && !e.phase.run_all_siblings).collect();
        let width = entries.iter().map(|e| e.use_.len()).max().unwrap_or(0);
        let mut text = format!("The \"{command}\" command executes the following phases:\n```\n");
        for e in &entries {
            let padding = width - e.use_.len() + 2;
            text.push_str(&format!("{}{}{}{}\n", " ".repeat(2 * e.level), e.use_, " ".repeat(padding), e.phase.short));
        }
        text.push_str("```");
        text
    }
}

/// kubeadm's `cleanName`: lower case, up to the first space.
fn clean_name(name: &str) -> String {
    let lower = name.to_lowercase();
    lower.split(' ').next().unwrap_or_default().to_owned()
}
