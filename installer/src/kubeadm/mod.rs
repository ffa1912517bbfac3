//! kubeadm's `init` (and later `join`), offline: configuration, certificates, kubeconfigs,
//! static Pod manifests and the kubelet's files, written exactly where and as kubeadm writes them.
//! Rendering is pure (configuration in, bytes out); [`files::Root`] and the few host probes are
//! the only parts that touch the node.

pub mod addons;
pub mod api;
mod arguments;
pub mod certs;
pub mod config;
pub mod discovery;
pub mod etcd_cluster;
pub mod files;
pub mod initsystem;
pub mod kubeconfig;
pub mod kubelet;
pub mod patches;
pub mod preflight;
pub mod reset;
pub mod skeleton;
pub mod staticpod;
pub mod token;
pub mod v1beta3;
pub mod wait;
pub mod yaml;

pub use config::{InitConfig, KeyAlgorithm, Version};
