#!/usr/bin/env bash
# Benchmark: bundle on disk to Ready nodes, airadm against kubeadm's own path on the same bundle,
# the same nodes and config, in one run (issue 13). Two nodes per run, fresh each time, in network
# and mount namespaces of this machine (testkit::node), alternating per round; see
# tests/testkit/src/bin/bench-cluster.rs for what each path does and how the time is split.
# As root. Usage: tests/bench/cluster.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
[ "$(id -u)" = 0 ] || { echo "tests/bench/cluster.sh: run as root (namespaces, cgroups)" >&2; exit 1; }
cargo build --release --locked --bins -p builder -p installer -p testkit >/dev/null 2>&1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
exec "$BIN/bench-cluster" "$BIN/airbundle" "$BIN/airadm" "$ROUNDS"
