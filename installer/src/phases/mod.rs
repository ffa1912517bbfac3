//! kubeadm's workflows, one folder each as kubeadm's `cmd/kubeadm/app/cmd/phases/`, one file per phase.

pub(crate) mod bundle;
pub(crate) mod client;
pub(crate) mod cni;
pub(crate) mod host;
pub mod init;
pub mod join;
pub mod reset;
pub(crate) mod wait;
