#!/usr/bin/env bash
# End-to-end demo on a fresh machine: install packages, build airbundle and airadm, start a
# loopback registry seeded with test images under the v1.31.2 names, build signed bundles for
# amd64 and arm64, inspect and verify them; then, as on an offline node, import the bundle into a
# containerd of its own and run `airadm init` (host-local phases) into a --rootfs directory.
# Everything lives in a temp dir removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/registry.sh
if [ "$(id -u)" = 0 ]; then bash .ci/deps.sh; else echo "demo: not root, assuming .ci/deps.sh ran"; fi
cargo build --release --locked --bins -p builder -p installer -p testkit
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
T=$(mktemp -d /tmp/airadm-demo.XXXXXX)
REG_PID= CTD_PID=
cleanup() {
  for pid in $CTD_PID $REG_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting a registry on 127.0.0.1"
start_registry "$T/registry"
echo "registry at $REG"

step "pushing test images (amd64 + arm64) under the names kubeadm v1.31.2 uses"
"$BIN/seed-registry" "$REG" demo

step "airbundle list-images --kubernetes-version v1.31.2"
"$BIN/airbundle" list-images --kubernetes-version v1.31.2

step "airbundle keygen"
"$BIN/airbundle" keygen --output-dir "$T/keys" --name demo

step "airbundle build (from the loopback registry as a mirror of registry.k8s.io)"
"$BIN/airbundle" build --kubernetes-version v1.31.2 --arch amd64 --arch arm64 \
  --mirror "$REG" --plain-http --signing-key "$T/keys/demo.key" \
  --output-dir "$T/out" --cache-dir "$T/cache" --no-binaries
ls -l "$T/out"

step "airbundle inspect"
"$BIN/airbundle" inspect "$T/out/kubernetes-v1.31.2-linux-amd64.tar.zst"

step "airadm verify (signature first, every entry hashed, one streaming pass)"
for arch in amd64 arm64; do
  "$BIN/airadm" verify --bundle "$T/out/kubernetes-v1.31.2-linux-$arch.tar.zst" --trusted-key "$T/keys/demo.pub"
done

step "standard tools: zstd -dc | tar t, minisign -Vm"
zstd -dc "$T/out/kubernetes-v1.31.2-linux-amd64.tar.zst" | tar t | sed -n 1,6p
minisign -Vm "$T/out/kubernetes-v1.31.2-linux-amd64.tar.zst" -p "$T/keys/demo.pub"

step "a tampered bundle is refused"
cp "$T/out/kubernetes-v1.31.2-linux-amd64.tar.zst" "$T/tampered.tar.zst"
printf 'X' | dd of="$T/tampered.tar.zst" bs=1 seek=2000 conv=notrunc status=none
if "$BIN/airadm" verify --bundle "$T/tampered.tar.zst" --trusted-key "$T/keys/demo.pub"; then
  echo "demo: FAILED: tampered bundle verified" >&2; exit 1
fi

ARCH=$(dpkg --print-architecture)
BUNDLE=$T/out/kubernetes-v1.31.2-linux-$ARCH.tar.zst
step "the node, offline: the registry is stopped; a containerd of our own on a socket in the temp dir"
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true; REG_PID=
start_containerd "$T/containerd"

step "airadm images import (verified while streaming into containerd; unpacked, named, pinned)"
"$BIN/airadm" images import --bundle "$BUNDLE" --trusted-key "$T/keys/demo.pub" --cri-socket "unix://$CTD_SOCK"

step "airadm init into --rootfs (this machine is not a node: preflight findings are warnings here)"
"$BIN/airadm" init --bundle "$BUNDLE" --trusted-key "$T/keys/demo.pub" --cri-socket "unix://$CTD_SOCK" \
  --rootfs "$T/node" --apiserver-advertise-address 10.0.0.10 --node-name demo-node \
  --ignore-preflight-errors=all --skip-phases=import,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command
(cd "$T/node" && find . -type f | sort)
openssl verify -CAfile "$T/node/etc/kubernetes/pki/ca.crt" "$T/node/etc/kubernetes/pki/apiserver.crt"
kubectl config view --kubeconfig "$T/node/etc/kubernetes/admin.conf" -o jsonpath='{.current-context} {.clusters[0].cluster.server}{"\n"}'
grep -h 'image:' "$T/node/etc/kubernetes/manifests/"*.yaml

printf '\ndemo OK\n'
