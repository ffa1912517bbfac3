//! kubeadm's workflows, one folder each as kubeadm's `cmd/kubeadm/app/cmd/phases/`, one file per phase.

pub mod init;
