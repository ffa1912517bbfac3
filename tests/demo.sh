#!/usr/bin/env bash
# End-to-end demo on a fresh machine: install packages, build the static release airbundle and
# airadm for amd64 and arm64 (.ci/dist.sh) and check them as a node would, start a
# loopback registry seeded with test images under the v1.34.4 names and a loopback release server
# holding Kubernetes' own v1.34.4 kubelet, kubectl, kubeadm, crictl and CNI plugins (built from
# the Go module proxy by tests/reference/build.sh, once per machine, in the background while
# cargo builds), build signed bundles for amd64 (with the node binaries and the static airadm) and
# arm64 (without), inspect and verify them (the arm64 one with the arm64 airadm, under
# qemu-aarch64); then, as on an offline node with both servers
# stopped, import the bundle into a containerd of its own and run `airadm init` (every host-local
# phase, binaries included) into a --rootfs directory. Everything lives in a temp dir removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/registry.sh
if [ "$(id -u)" = 0 ]; then bash .ci/deps.sh; else echo "demo: not root, assuming .ci/deps.sh ran"; fi
V=v1.34.4
NODE_BINARIES="kubelet kubectl kubeadm crictl bridge host-local loopback portmap"
T=$(mktemp -d /tmp/airadm-demo.XXXXXX)
REG_PID= CTD_PID= SRV_PID= GO_PID=
cleanup() {
  for pid in $CTD_PID $REG_PID $SRV_PID; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  [ -n "$GO_PID" ] && kill -- -"$GO_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# The node binaries come from Kubernetes' own sources (cached per machine): built while cargo builds.
setsid tests/reference/build.sh "$V" $NODE_BINARIES > "$T/reference-build.log" 2>&1 & GO_PID=$!
# The test servers (seed-registry, serve-releases) are testkit's; airbundle and airadm are the
# release binaries, static and stripped, cross-compiled for both architectures.
cargo build --release --locked --bins -p testkit
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
VERSION=v$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
ARCH=$(dpkg --print-architecture)
OTHER=$([ "$ARCH" = amd64 ] && echo arm64 || echo amd64)
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/dist-build .ci/dist.sh --out "$T/dist" amd64 arm64
AIRBUNDLE=$T/dist/airbundle-$VERSION-linux-$ARCH AIRADM=$T/dist/airadm-$VERSION-linux-$ARCH
wait "$GO_PID" || { echo "demo: tests/reference/build.sh failed:" >&2; tail -30 "$T/reference-build.log" >&2; exit 1; }
GO_PID=

step "the release binaries: static (no program interpreter, no dynamic section) and stripped (no symbol table)"
for f in "$T"/dist/air*; do
  h=$(readelf -lhSW "$f")
  printf '%-30s %9s bytes  %-8s %s, %s\n' "${f##*/}" "$(stat -c %s "$f")" "$(grep -q 'Machine: *AArch64' <<<"$h" && echo arm64 || echo amd64)" \
    "$(grep -qE 'INTERP|DYNAMIC' <<<"$h" && echo dynamic || echo static)" "$(grep -q '\.symtab' <<<"$h" && echo 'not stripped' || echo stripped)"
done
"$AIRADM" version
"$AIRBUNDLE" --version

step "airbundle keygen: the release key, which signs the release's SHA256SUMS and the bundles"
"$AIRBUNDLE" keygen --output-dir "$T/keys" --name demo
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/dist-build .ci/dist.sh --signing-key "$T/keys/demo.key" --out "$T/dist" amd64 arm64 2>"$T/dist-sign.log" \
  || { cat "$T/dist-sign.log" >&2; echo "demo: signing the release's SHA256SUMS failed" >&2; exit 1; }
step "a node checks the installer before trusting it: minisign -Vm SHA256SUMS, sha256sum -c"
minisign -Vm "$T/dist/SHA256SUMS" -p "$T/keys/demo.pub"
(cd "$T/dist" && sha256sum -c SHA256SUMS)

step "starting a registry on 127.0.0.1"
start_registry "$T/registry"
echo "registry at $REG"

step "pushing test images (amd64 + arm64) under the names kubeadm $V uses"
"$BIN/seed-registry" "$REG" demo "$V"

step "a release server on 127.0.0.1 with the dl.k8s.io and GitHub layouts: $V's linux/$ARCH node binaries and checksum files"
"$BIN/serve-releases" "$V" "$ARCH" > "$T/releases.url" & SRV_PID=$!
for _ in $(seq 600); do [ -s "$T/releases.url" ] && break; sleep 0.1; done
RELEASES=$(cat "$T/releases.url")
echo "release server at $RELEASES"

step "airbundle list-images --kubernetes-version $V"
"$AIRBUNDLE" list-images --kubernetes-version "$V"

step "airbundle build linux/$ARCH with the node binaries (images from the loopback registry as a mirror of registry.k8s.io, binaries from the release server as a mirror of dl.k8s.io and github.com)"
"$AIRBUNDLE" build --kubernetes-version "$V" --arch "$ARCH" \
  --mirror "$REG" --plain-http --signing-key "$T/keys/demo.key" \
  --binaries-mirror "$RELEASES" --airadm-binary "$ARCH=$AIRADM" \
  --output-dir "$T/out" --cache-dir "$T/cache"
step "airbundle build linux/$OTHER without them (no $OTHER binaries here: --no-binaries)"
"$AIRBUNDLE" build --kubernetes-version "$V" --arch "$OTHER" \
  --mirror "$REG" --plain-http --signing-key "$T/keys/demo.key" \
  --output-dir "$T/out" --cache-dir "$T/cache" --no-binaries
ls -l "$T/out"
BUNDLE=$T/out/kubernetes-$V-linux-$ARCH.tar.zst

step "airbundle inspect"
"$AIRBUNDLE" inspect "$BUNDLE"

step "airadm verify (signature first, every entry hashed, one streaming pass); each with its own architecture's airadm"
for arch in amd64 arm64; do
  run=()
  [ "$arch" = "$ARCH" ] || run=("$(command -v "qemu-$([ "$arch" = arm64 ] && echo aarch64 || echo x86_64)-static")")
  echo "+ ${run[*]:+${run[*]##*/} }airadm-$VERSION-linux-$arch verify"
  "${run[@]}" "$T/dist/airadm-$VERSION-linux-$arch" verify --bundle "$T/out/kubernetes-$V-linux-$arch.tar.zst" --trusted-key "$T/keys/demo.pub"
done

step "standard tools: zstd -dc | tar t, minisign -Vm"
zstd -dc "$BUNDLE" | tar t | grep -E '^(airbundle|bin/|cni/bin/b)' 
minisign -Vm "$BUNDLE" -p "$T/keys/demo.pub"

step "a tampered bundle is refused"
cp "$BUNDLE" "$T/tampered.tar.zst"
printf 'X' | dd of="$T/tampered.tar.zst" bs=1 seek=2000 conv=notrunc status=none
if "$AIRADM" verify --bundle "$T/tampered.tar.zst" --trusted-key "$T/keys/demo.pub"; then
  echo "demo: FAILED: tampered bundle verified" >&2; exit 1
fi

step "the node, offline: the registry and the release server are stopped; a containerd of our own on a socket in the temp dir"
for pid in $REG_PID $SRV_PID; do kill "$pid"; wait "$pid" 2>/dev/null || true; done; REG_PID= SRV_PID=
start_containerd "$T/containerd"

step "airadm images import (verified while streaming into containerd; unpacked, named, pinned)"
"$AIRADM" images import --bundle "$BUNDLE" --trusted-key "$T/keys/demo.pub" --cri-socket "unix://$CTD_SOCK"

mkdir -p "$T/node"
step "airadm init into --rootfs: binaries, preflight (findings are warnings: this machine is not a node), certs … kubelet-start"
"$AIRADM" init --bundle "$BUNDLE" --trusted-key "$T/keys/demo.pub" --cri-socket "unix://$CTD_SOCK" \
  --rootfs "$T/node" --apiserver-advertise-address 10.0.0.10 --node-name demo-node \
  --ignore-preflight-errors=all --skip-phases=import,wait-control-plane,upload-config,upload-certs,mark-control-plane,bootstrap-token,kubelet-finalize,addon,show-join-command
(cd "$T/node" && find . -type f | sort)
for b in kubelet kubectl kubeadm crictl airadm; do
  printf '%-8s ' "$b"; case $b in
    kubelet) "$T/node/usr/local/bin/kubelet" --version ;;
    kubectl) "$T/node/usr/local/bin/kubectl" version --client | head -1 ;;
    kubeadm) "$T/node/usr/local/bin/kubeadm" version -o short ;;
    crictl) "$T/node/usr/local/bin/crictl" --version ;;
    airadm) "$T/node/usr/local/bin/airadm" version ;;
  esac
done
openssl verify -CAfile "$T/node/etc/kubernetes/pki/ca.crt" "$T/node/etc/kubernetes/pki/apiserver.crt"
kubectl config view --kubeconfig "$T/node/etc/kubernetes/admin.conf" -o jsonpath='{.current-context} {.clusters[0].cluster.server}{"\n"}'
grep -h 'image:' "$T/node/etc/kubernetes/manifests/"*.yaml

printf '\ndemo OK\n'
