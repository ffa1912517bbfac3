//! A port of kubeadm's workflow package (cmd/kubeadm/app/cmd/phases/workflow): phases as data,
//! the runner that selects and runs them, and their `phase` subcommands.

pub mod command;
pub mod phase;
pub mod runner;

pub use phase::{Phase, PhaseFuture, ready};
pub use runner::Runner;

#[cfg(test)]
mod tests;
