#!/usr/bin/env bash
# Release binaries (issue 14): static, stripped `airadm` and `airbundle` for linux/amd64 and
# linux/arm64, cross-compiled from this machine with cargo-zigbuild (zig from PyPI's `ziglang`
# links them against musl and builds the C parts, aws-lc and zstd, for each target).
#
#   .ci/dist.sh [--signing-key KEY] [--out DIR] [ARCH...]     (ARCH: amd64 arm64; default both)
#
# Writes DIR (default dist/): airadm-VERSION-linux-ARCH, airbundle-VERSION-linux-ARCH,
# SHA256SUMS, and with --signing-key (a key from `airbundle keygen`) SHA256SUMS.minisig, so that
# a node can check the installer before trusting it: `minisign -Vm SHA256SUMS -p release.pub`,
# then `sha256sum -c SHA256SUMS`. Installs what it needs the first time (the rustup targets,
# ziglang, cargo-zigbuild), at pinned versions.
set -euo pipefail
cd "$(dirname "$0")/.."
ZIG_VERSION=0.15.2
ZIGBUILD_VERSION=0.24.1
key= out=dist arches=()
while [ $# -gt 0 ]; do
  case $1 in
    --signing-key) key=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    amd64 | arm64) arches+=("$1"); shift ;;
    *) echo ".ci/dist.sh: unknown argument \`$1\`: use --signing-key KEY, --out DIR, amd64, arm64" >&2; exit 2 ;;
  esac
done
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)
if [ -n "$key" ] && [ ! -f "$key" ]; then
  echo ".ci/dist.sh: --signing-key \`$key\` is not a file: make one with \`airbundle keygen\`" >&2
  exit 2
fi
if [ -n "$key" ] && ! command -v minisign >/dev/null; then
  echo ".ci/dist.sh: minisign not found: install Debian's minisign (.ci/deps.sh does)" >&2
  exit 2
fi

triple() { case $1 in amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; esac; }

# The tools, once per machine.
for arch in "${arches[@]}"; do
  rustup target list --installed | grep -qx "$(triple "$arch")" || rustup target add "$(triple "$arch")"
done
# Debian's own python3 refuses pip installs outside a venv (PEP 668) unless told otherwise.
if ! python3 -m ziglang version 2>/dev/null | grep -qx "$ZIG_VERSION"; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --break-system-packages "ziglang==$ZIG_VERSION" \
    || python3 -m pip install -q --disable-pip-version-check "ziglang==$ZIG_VERSION"
fi
cargo zigbuild --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$" || cargo install -q --locked cargo-zigbuild --version "$ZIGBUILD_VERSION"

# Paths that would make the binaries differ by machine and checkout, and leak its layout: the
# registry's sources (panic locations), the workspace and the target dir (prost's generated code).
# The flags go in cargo's encoded form, a path with a space in it included; RUSTFLAGS's own come
# first (rustc takes the last remap that matches: the target dir's over the workspace's).
read -ra flags <<< "${RUSTFLAGS:-}"
flags+=("--remap-path-prefix=$(pwd -P)/=" "--remap-path-prefix=$(realpath -m "${CARGO_TARGET_DIR:-target}")/=target/"
  "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/=")
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; printf '%s' "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS
unset RUSTFLAGS

version=v$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
mkdir -p "$out"
built=()
for arch in "${arches[@]}"; do
  t=$(triple "$arch")
  echo ".ci/dist.sh: building $version for linux/$arch ($t)" >&2
  cargo zigbuild --profile dist --locked --target "$t" -p installer -p builder --bins
  for program in airadm airbundle; do
    # Whole files only, under their final names (a test or the demo may be reading $out).
    install -m 0755 "${CARGO_TARGET_DIR:-target}/$t/dist/$program" "$out/.$program-$version-linux-$arch.tmp"
    mv -f "$out/.$program-$version-linux-$arch.tmp" "$out/$program-$version-linux-$arch"
    built+=("$program-$version-linux-$arch")
  done
done
# The sums (and their signature) name exactly what this run built; an older signature goes.
rm -f "$out/SHA256SUMS.minisig"
(cd "$out" && sha256sum -- "${built[@]}" > .SHA256SUMS.tmp && mv -f .SHA256SUMS.tmp SHA256SUMS)
if [ -n "$key" ]; then
  minisign -S -s "$key" -m "$out/SHA256SUMS" -x "$out/.SHA256SUMS.minisig.tmp" -t "airadm $version release binaries" < /dev/null
  mv -f "$out/.SHA256SUMS.minisig.tmp" "$out/SHA256SUMS.minisig"
fi
ls -l "$out" >&2
