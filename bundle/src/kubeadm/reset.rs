//! kubeadm's `ResetConfiguration` (`kubeadm.k8s.io/v1beta4` only, types.go): what `reset` is
//! told besides its flags, every field optional, unknown fields refused.

use serde::{Deserialize, Serialize};

use super::Timeouts;

/// kubeadm's `ResetConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetConfiguration {
    /// Always `kubeadm.k8s.io/v1beta4`.
    pub api_version: String,
    /// Always `ResetConfiguration`.
    pub kind: String,
    /// Also empty `/etc/kubernetes/tmp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_tmp_dir: Option<bool>,
    /// The certificates directory to empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates_dir: Option<String>,
    /// The runtime whose pods are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "criSocket")]
    pub cri_socket: Option<String>,
    /// Only print what would be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Do not ask for confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Preflight errors shown as warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_preflight_errors: Option<Vec<String>>,
    /// Phases to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_phases: Option<Vec<String>>,
    /// `umount2` flags: `MNT_FORCE`, `MNT_DETACH`, `MNT_EXPIRE`, `UMOUNT_NOFOLLOW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmount_flags: Option<Vec<String>>,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}
