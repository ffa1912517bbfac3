#!/usr/bin/env bash
# The test command on a fresh machine (README's second command; `.ci/run` runs exactly this):
# installs the Debian packages the tests need (.ci/deps.sh, as root), then builds the binaries the
# end-to-end tests run and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash .ci/deps.sh
else
  echo "tests/run.sh: not root, assuming .ci/deps.sh ran (it installs protoc, containerd, …)" >&2
fi
command -v protoc >/dev/null || { echo "tests/run.sh: protoc not found: run as root, or run .ci/deps.sh as root first" >&2; exit 1; }
echo "tests/run.sh: cargo build --workspace --bins --locked && cargo test --workspace --locked $*"
cargo build --workspace --bins --locked
cargo test --workspace --locked "$@"
