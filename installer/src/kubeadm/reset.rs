//! What `reset` removes (kubeadm: cmd/phases/reset/cleanupnode.go `resetConfigDir`,
//! unmount_linux.go, removeetcdmember.go `getEtcdDataDir`), and what it says. Pure.

/// The kubeconfig files init and join write, which reset deletes (in kubeadm's order).
pub const KUBECONFIG_FILES: &[&str] = &[
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/super-admin.conf",
    "/etc/kubernetes/kubelet.conf",
    "/etc/kubernetes/bootstrap-kubelet.conf",
    "/etc/kubernetes/controller-manager.conf",
    "/etc/kubernetes/scheduler.conf",
];

/// The static Pod manifests' directory.
pub const MANIFESTS_DIR: &str = "/etc/kubernetes/manifests";
/// The kubelet's directory.
pub const KUBELET_DIR: &str = "/var/lib/kubelet";
/// kubeadm's backups (`--cleanup-tmp-dir`).
pub const TMP_DIR: &str = "/etc/kubernetes/tmp";
/// etcd's data directory when nothing says otherwise.
pub const DEFAULT_ETCD_DATA_DIR: &str = "/var/lib/etcd";

/// kubeadm's `manualCleanupInstructions`, printed after a reset.
pub const MANUAL_CLEANUP: &str = "\nThe reset process does not perform cleanup of CNI plugin configuration,\nnetwork filtering rules and kubeconfig files.\n\nFor information on how to perform this cleanup manually, please see:\n    https://k8s.io/docs/reference/setup-tools/kubeadm/kubeadm-reset/\n\n";

/// The directories whose contents go, in kubeadm's order: the manifests, the kubelet's directory
/// (when it exists), the certificates, and `/etc/kubernetes/tmp` when asked.
pub fn dirs_to_clean(certificates_dir: &str, kubelet_dir_exists: bool, cleanup_tmp_dir: bool) -> Vec<String> {
    let mut dirs = vec![MANIFESTS_DIR.to_owned()];
    if kubelet_dir_exists {
        dirs.push(KUBELET_DIR.into());
    }
    dirs.push(certificates_dir.into());
    if cleanup_tmp_dir {
        dirs.push(TMP_DIR.into());
    }
    dirs
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_list(items: &[impl AsRef<str>]) -> String {
    format!("[{}]", items.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" "))
}

/// The mount points in `/proc/mounts` text strictly below `dir` (a real path), deepest first so
/// that each can be unmounted in turn; the kernel's octal escapes (`\040` for a space) decoded.
pub fn mounts_below(proc_mounts: &str, dir: &str) -> Vec<String> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let mut found: Vec<String> =
        proc_mounts.lines().filter_map(|line| line.split(' ').nth(1)).map(unescape).filter(|point| point.starts_with(&prefix)).collect();
    found.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    found.dedup();
    found
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(digits) => {
                out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `etcd-data` volume's hostPath in the etcd static Pod manifest (kubeadm's
/// `getEtcdDataDir` without a config); `None` when the manifest has no such volume.
pub fn etcd_data_dir_from_manifest(manifest: &str) -> Option<String> {
    let pod: serde_json::Value = serde_saphyr::from_str(manifest).ok()?;
    let volumes = pod["spec"]["volumes"].as_array()?;
    let volume = volumes.iter().find(|v| v["name"] == "etcd-data")?;
    volume["hostPath"]["path"].as_str().filter(|p| !p.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_and_files_are_kubeadms_in_its_order() {
        assert_eq!(
            go_list(&dirs_to_clean("/etc/kubernetes/pki", true, false)),
            "[/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]"
        );
        assert_eq!(dirs_to_clean("/x/pki", false, true), ["/etc/kubernetes/manifests", "/x/pki", "/etc/kubernetes/tmp"]);
        assert_eq!(
            go_list(KUBECONFIG_FILES),
            "[/etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf /etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf]"
        );
    }

    #[test]
    fn mounts_strictly_below_the_kubelet_directory_deepest_first() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
            tmpfs /var/lib/kubelet tmpfs rw 0 0\n\
            tmpfs /var/lib/kubelet/pods/a/volumes/kubernetes.io~projected/kube-api-access tmpfs rw 0 0\n\
            shm /var/lib/kubelet/pods/b shm rw 0 0\n\
            tmpfs /var/lib/kubelet-other/x tmpfs rw 0 0\n\
            tmpfs /var/lib/kubelet/pods/with\\040space tmpfs rw 0 0\n";
        assert_eq!(
            mounts_below(mounts, "/var/lib/kubelet"),
            [
                "/var/lib/kubelet/pods/a/volumes/kubernetes.io~projected/kube-api-access",
                "/var/lib/kubelet/pods/with space",
                "/var/lib/kubelet/pods/b",
            ]
        );
    }

    #[test]
    fn the_etcd_data_dir_comes_from_the_etcd_data_volume() {
        let manifest = "apiVersion: v1\nkind: Pod\nspec:\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki/etcd\n      type: DirectoryOrCreate\n    name: etcd-certs\n  - hostPath:\n      path: /data/etcd\n      type: DirectoryOrCreate\n    name: etcd-data\n";
        assert_eq!(etcd_data_dir_from_manifest(manifest).as_deref(), Some("/data/etcd"));
        assert_eq!(etcd_data_dir_from_manifest("apiVersion: v1\nkind: Pod\nspec:\n  volumes: []\n"), None);
    }
}
