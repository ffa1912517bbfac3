//! `reset`'s configuration (kubeadm: cmd/kubeadm/app/cmd/reset.go `newResetData`,
//! `LoadOrDefaultResetConfiguration`): a flag given on the command line wins, then the
//! ResetConfiguration document, then what the cluster says, then kubeadm's defaults. Pure.

use bundle::kubeadm::ResetConfiguration;

use super::{ConfigError, defaults};

/// kubeadm's reset flags; `None` / `false` when not given on the command line.
#[derive(Debug, Clone, Default)]
pub struct ResetFlags {
    /// `--cert-dir`.
    pub cert_dir: Option<String>,
    /// `--cri-socket`.
    pub cri_socket: Option<String>,
    /// `--force` / `-f`.
    pub force: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--cleanup-tmp-dir`.
    pub cleanup_tmp_dir: bool,
    /// `--ignore-preflight-errors`.
    pub ignore_preflight_errors: Vec<String>,
    /// `--skip-phases`.
    pub skip_phases: Vec<String>,
}

/// What the cluster's `kubeadm-config` (and this node's kubelet files) say, when they could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFacts {
    /// `certificatesDir`.
    pub certificates_dir: Option<String>,
    /// `etcd.local.dataDir`, with a local etcd; `None` with an external one or none known.
    pub etcd_data_dir: Option<String>,
    /// The node's CRI socket (its `instance-config.yaml` or Node annotation).
    pub cri_socket: Option<String>,
}

/// Everything `reset` runs from, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetConfig {
    /// The certificates directory to empty.
    pub certificates_dir: String,
    /// The runtime whose pods go; `None`: none was given and none is known (detected later).
    pub cri_socket: Option<String>,
    /// Do not ask.
    pub force: bool,
    /// Only say what would be done.
    pub dry_run: bool,
    /// Also empty `/etc/kubernetes/tmp`.
    pub cleanup_tmp_dir: bool,
    /// Lower-cased check names (or `all`).
    pub ignore_preflight_errors: Vec<String>,
    /// Phases to skip.
    pub skip_phases: Vec<String>,
    /// `umount2` flags, as bits.
    pub unmount_flags: u32,
}

/// `MNT_FORCE`, `MNT_DETACH`, `MNT_EXPIRE`, `UMOUNT_NOFOLLOW` (linux/fs.h).
const UNMOUNT_FLAGS: &[(&str, u32)] = &[("MNT_FORCE", 1), ("MNT_DETACH", 2), ("MNT_EXPIRE", 4), ("UMOUNT_NOFOLLOW", 8)];

/// Resolves the document, the flags and what the cluster said into a [`ResetConfig`].
pub fn resolve_reset(doc: Option<ResetConfiguration>, flags: &ResetFlags, cluster: &ClusterFacts) -> Result<ResetConfig, ConfigError> {
    let doc = doc.unwrap_or_default();
    let mut unmount_flags = 0;
    for (index, name) in doc.unmount_flags.iter().flatten().enumerate() {
        let (_, bit) = UNMOUNT_FLAGS.iter().find(|(known, _)| known == name).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "unmountFlags: Invalid value: \"index {index}\": unknown unmount flag {name} (known: MNT_FORCE, MNT_DETACH, MNT_EXPIRE, UMOUNT_NOFOLLOW)"
            ))
        })?;
        unmount_flags |= bit;
    }
    if let Some(dir) = doc.certificates_dir.as_ref().filter(|d| !d.is_empty() && !d.starts_with('/')) {
        return Err(ConfigError::Invalid(format!("certificatesDir: Invalid value: \"{dir}\": path is not absolute")));
    }
    let certificates_dir = flags
        .cert_dir
        .clone()
        .or(doc.certificates_dir.filter(|d| !d.is_empty()))
        .or(cluster.certificates_dir.clone().filter(|d| !d.is_empty()))
        .unwrap_or_else(|| defaults::CERTIFICATES_DIR.into());
    let mut ignore: Vec<String> = doc.ignore_preflight_errors.unwrap_or_default();
    ignore.extend(flags.ignore_preflight_errors.iter().cloned());
    Ok(ResetConfig {
        certificates_dir,
        cri_socket: flags.cri_socket.clone().or(doc.cri_socket.filter(|s| !s.is_empty())).or(cluster.cri_socket.clone()),
        force: flags.force || doc.force.unwrap_or(false),
        dry_run: flags.dry_run || doc.dry_run.unwrap_or(false),
        cleanup_tmp_dir: flags.cleanup_tmp_dir || doc.cleanup_tmp_dir.unwrap_or(false),
        ignore_preflight_errors: ignore.iter().map(|e| e.to_lowercase()).collect(),
        skip_phases: if flags.skip_phases.is_empty() { doc.skip_phases.unwrap_or_default() } else { flags.skip_phases.clone() },
        unmount_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_document_which_wins_over_the_cluster() {
        let doc = ResetConfiguration {
            certificates_dir: Some("/doc/pki".into()),
            cri_socket: Some("unix:///doc.sock".into()),
            force: Some(true),
            unmount_flags: Some(vec!["MNT_DETACH".into(), "UMOUNT_NOFOLLOW".into()]),
            skip_phases: Some(vec!["preflight".into()]),
            ..Default::default()
        };
        let cluster = ClusterFacts {
            certificates_dir: Some("/cluster/pki".into()),
            cri_socket: Some("unix:///cluster.sock".into()),
            etcd_data_dir: None,
        };
        let from_doc = resolve_reset(Some(doc.clone()), &ResetFlags::default(), &cluster).unwrap();
        assert_eq!(from_doc.certificates_dir, "/doc/pki");
        assert_eq!(from_doc.cri_socket.as_deref(), Some("unix:///doc.sock"));
        assert!(from_doc.force && !from_doc.dry_run);
        assert_eq!(from_doc.unmount_flags, 2 | 8);
        assert_eq!(from_doc.skip_phases, ["preflight"]);
        let flags = ResetFlags { cert_dir: Some("/flag/pki".into()), skip_phases: vec!["cleanup-node".into()], ..Default::default() };
        let from_flags = resolve_reset(Some(doc), &flags, &cluster).unwrap();
        assert_eq!((from_flags.certificates_dir.as_str(), from_flags.skip_phases), ("/flag/pki", vec!["cleanup-node".to_owned()]));
        let from_cluster = resolve_reset(None, &ResetFlags::default(), &cluster).unwrap();
        assert_eq!(from_cluster.certificates_dir, "/cluster/pki");
        assert_eq!(from_cluster.cri_socket.as_deref(), Some("unix:///cluster.sock"));
        let defaults = resolve_reset(None, &ResetFlags::default(), &ClusterFacts::default()).unwrap();
        assert_eq!((defaults.certificates_dir.as_str(), defaults.cri_socket), ("/etc/kubernetes/pki", None));
    }

    #[test]
    fn an_unknown_unmount_flag_is_refused_naming_the_known_ones() {
        let doc = ResetConfiguration { unmount_flags: Some(vec!["MNT_LAZY".into()]), ..Default::default() };
        let err = resolve_reset(Some(doc), &ResetFlags::default(), &ClusterFacts::default()).unwrap_err().to_string();
        assert!(err.contains("unmountFlags: Invalid value: \"index 0\": unknown unmount flag MNT_LAZY"), "{err}");
    }
}
