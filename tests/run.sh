#!/usr/bin/env bash
# The test command on a fresh machine (README's second command; `.ci/run` runs exactly this):
# installs the Debian packages the tests need (.ci/deps.sh, as root), then builds the binaries the
# end-to-end tests run (the static release ones too) and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then
  bash .ci/deps.sh
else
  echo "tests/run.sh: not root, assuming .ci/deps.sh ran (it installs protoc, containerd, …)" >&2
fi
command -v protoc >/dev/null || { echo "tests/run.sh: protoc not found: run as root, or run .ci/deps.sh as root first" >&2; exit 1; }
# The reference toolchain (Go, from the module proxy; cached per machine) is built in the
# background while cargo builds (tests/reference/warmup.sh: only what the tests use): the
# downloads overlap the Rust build, and Go fills the cores cargo leaves idle. A test needing a
# command waits on build.sh's per-version lock, and reports build.sh's own error if the warm-up
# failed (its log: target/reference-warmup.log).
mkdir -p target
if command -v go >/dev/null; then
  setsid tests/reference/warmup.sh >target/reference-warmup.log 2>&1 &
  warmup=$!
  # Stopped with the tests (build.sh moves a binary into place only once it is whole).
  trap 'kill -- -"$warmup" 2>/dev/null || true' EXIT
  echo "tests/run.sh: building the reference toolchain in the background (target/reference-warmup.log)"
fi
# Disk: the tests build bundles, containerd roots and clusters in temp dirs. A run that fails for
# want of space says so (ENOSPC in a test's error), and this shows how much there was.
tmp=${TMPDIR:-/tmp}
disk() { df -h --output=target,avail,size "$PWD" "$tmp" 2>/dev/null | sed "s/^/tests\/run.sh: disk: /"; }
disk
free_kib=$(df -k --output=avail "$tmp" | tail -1)
# Measured (BENCHMARKS.md): the tests' temp dirs peak at 3.8 GiB; a cold run also fills the target
# dir (5 GiB) and the Go module cache (6 GiB) and, until the reference builds are done, Go's
# build cache (10 GiB, cleared by warmup.sh once they are).
if [ "$free_kib" -lt $((8 * 1024 * 1024)) ]; then
  echo "tests/run.sh: WARNING: only $((free_kib / 1024)) MiB free in $tmp: the end-to-end tests alone need about 4 GiB, a cold run about 25 GiB in all (set TMPDIR to a larger disk)" >&2
fi
echo "tests/run.sh: cargo build --workspace --bins --locked && cargo test --workspace --locked $*"
cargo build --workspace --bins --locked
# The static release binaries of both architectures, which the release tests run in a Debian 11
# root and under qemu-aarch64 (tests/e2e/tests/it/release.rs; a test builds them itself when they
# are missing, into the same place).
target=${CARGO_TARGET_DIR:-target}
echo "tests/run.sh: .ci/dist.sh --out $target/dist amd64 arm64"
CARGO_TARGET_DIR=$target/dist-build flock "$target/dist.lock" .ci/dist.sh --out "$target/dist" amd64 arm64
status=0
cargo test --workspace --locked "$@" || status=$?
disk
exit "$status"
