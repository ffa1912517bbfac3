#!/usr/bin/env bash
# The real-cluster scenario by hand (issue 13; tests/e2e/tests/it/cluster/): a signed bundle built
# from loopback servers, then four nodes in network and mount namespaces of this machine, each
# with its own containerd and a kubelet this harness runs as their init system: `airadm init`,
# an airadm worker join, an airadm control-plane join, a real `kubeadm join`, workloads across
# nodes, `airadm reset` on every node. As root, on a Debian machine with Go (the reference
# toolchain is built once per machine: tests/reference/build.sh). Extra arguments go to the test
# binary (e.g. --nocapture is already given).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/cluster.sh: run as root: the nodes need network and mount namespaces and cgroups" >&2; exit 1; }
bash .ci/deps.sh
cargo build --workspace --bins --locked
exec cargo test -p e2e --locked --test it -- cluster:: --nocapture "$@"
