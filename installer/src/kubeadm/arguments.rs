//! Command lines from base arguments and a user's overrides, as kubeadm builds them for the
//! static Pods and `kubeadm-flags.env` (kubeadm: cmd/kubeadm/app/util/arguments.go).

use bundle::kubeadm::Arg;

use super::Version;

/// kubeadm's `ArgumentsToCommand` (`cmd/kubeadm/app/util/arguments.go`): overrides replace
/// every base argument of the same name, as `--name=value`. Until kubernetes/kubernetes#135851
/// the whole list was sorted by name, then value; from v1.32.12, v1.33.8, v1.34.4, v1.35.1 and
/// every v1.36 only the base is sorted and the overrides follow in the user's order (checked
/// against the source and CHANGELOG of each release the Go module proxy serves).
pub(crate) fn arguments_to_command(version: &Version, base: &[Arg], overrides: &[Arg]) -> Vec<String> {
    let mut args: Vec<&Arg> = base.iter().filter(|b| !overrides.iter().any(|o| o.name == b.name)).collect();
    let by_name = |a: &&Arg, b: &&Arg| a.name.cmp(&b.name).then_with(|| a.value.cmp(&b.value));
    if overrides_keep_their_order(version) {
        args.sort_by(by_name);
        args.extend(overrides);
    } else {
        args.extend(overrides);
        args.sort_by(by_name);
    }
    args.iter().map(|a| format!("--{}={}", a.name, a.value)).collect()
}

/// Whether kubeadm of `version` carries kubernetes/kubernetes#135851 (see [`arguments_to_command`]).
fn overrides_keep_their_order(version: &Version) -> bool {
    let first_patch = match (version.major, version.minor) {
        (1, ..=31) => return false,
        (1, 32) => 12,
        (1, 33) => 8,
        (1, 34) => 4,
        (1, 35) => 1,
        _ => return true,
    };
    version.patch >= first_patch
}
