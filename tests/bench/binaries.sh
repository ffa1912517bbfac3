#!/usr/bin/env bash
# Benchmark: what the node binaries (issue 11) cost, on the same data in one run. Kubernetes'
# own v1.34.4 images (made from the reference toolchain, testkit::kubeimages) in a loopback
# registry, and the reference kubelet, kubectl, kubeadm, crictl and CNI plugins on a loopback
# release server (testkit::releases, dl.k8s.io/GitHub layouts with real checksum files), plus
# this airadm (--airadm-binary). Per round, alternating, cold cache:
#   build: `airbundle build --no-binaries` against the same build with the binaries;
#   import: `airadm images import` of each bundle into a fresh containerd;
#   install: `airadm binaries install --rootfs` of the bundle with binaries (one verifying pass),
#            against the obvious alternative: `zstd -dc | tar x` and `install -m 0755` of each file.
# Reports the median of each (wall, CPU, peak RSS) and the bundle sizes.
# Usage: tests/bench/binaries.sh [ROUNDS]. Needs the reference toolchain (built on first use).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/registry.sh
ROUNDS=${1:-3}
VERSION=v1.34.4
cargo build --release --locked --bins -p builder -p installer -p testkit >/dev/null 2>&1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
T=$(mktemp -d /tmp/airadm-bench-binaries.XXXXXX)
REG_PID= CTD_PID= SRV_PID=
stop_containerd() { if [ -n "$CTD_PID" ]; then kill "$CTD_PID" 2>/dev/null; wait "$CTD_PID" 2>/dev/null || true; CTD_PID=; fi; }
cleanup() { stop_containerd; for p in $REG_PID $SRV_PID; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"; }
trap cleanup EXIT

start_registry "$T/registry"
echo "bench: seeding $REG with Kubernetes $VERSION images from the reference toolchain" >&2
"$BIN/seed-registry" "$REG" reference "$VERSION" > "$T/images.txt"
"$BIN/serve-releases" "$VERSION" amd64 > "$T/releases.url" & SRV_PID=$!
for _ in $(seq 600); do [ -s "$T/releases.url" ] && break; sleep 0.1; done
RELEASES=$(cat "$T/releases.url")
[ -n "$RELEASES" ] || { echo "serve-releases did not start" >&2; exit 1; }
"$BIN/airbundle" keygen --output-dir "$T" --name bench >/dev/null
B=kubernetes-$VERSION-linux-amd64.tar.zst

measure() { # name output command... -> "name wall cpu rss size" into $T/results
  local name=$1 out=$2; shift 2
  /usr/bin/time -v -o "$T/time.txt" "$@" >/dev/null 2>"$T/err.txt" || { cat "$T/err.txt" >&2; exit 1; }
  python3 - "$name" "$out" "$T/time.txt" >> "$T/results" <<'PY'
import os, re, sys
name, out, path = sys.argv[1:]
t = open(path).read()
f = lambda k: re.search(re.escape(k) + r": (.*)", t).group(1).strip()
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"))))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
size = os.path.getsize(out) if os.path.isfile(out) else 0
print(name, f"{wall:.2f}", f"{cpu:.2f}", int(f("Maximum resident set size (kbytes)")) // 1024, size)
PY
}

build() { # name out extra...: a cold-cache airbundle build, measured
  local name=$1 out=$2; shift 2
  rm -rf "$out" "$T/cache"
  measure "$name" "$out/$B" "$BIN/airbundle" build --kubernetes-version "$VERSION" --arch amd64 --mirror "$REG" --plain-http --quiet \
    --signing-key "$T/bench.key" --output-dir "$out" --cache-dir "$T/cache" "$@"
}
S=$T/ctd/containerd.sock
for round in $(seq "$ROUNDS"); do
  build "build --no-binaries" "$T/without" --no-binaries
  build "build with binaries" "$T/with" --binaries-mirror "$RELEASES" --airadm-binary "amd64=$BIN/airadm"
  for side in without with; do
    start_containerd "$T/ctd"
    measure "images import ($side binaries)" "$T/$side/$B" \
      "$BIN/airadm" images import --bundle "$T/$side/$B" --trusted-key "$T/bench.pub" --cri-socket "unix://$S"
    stop_containerd
  done
  rm -rf "$T/root" "$T/x"; mkdir -p "$T/x" "$T/root"
  measure "airadm binaries install" "$T/with/$B" \
    "$BIN/airadm" binaries install --bundle "$T/with/$B" --trusted-key "$T/bench.pub" --rootfs "$T/root"
  rm -rf "$T/root2"
  measure "zstd+tar+install" "$T/with/$B" bash -c "
    zstd -dc '$T/with/$B' | tar -x -C '$T/x' bin cni &&
    install -D -m 0755 -t '$T/root2/usr/local/bin' '$T/x'/bin/* &&
    install -D -m 0755 -t '$T/root2/opt/cni/bin' '$T/x'/cni/bin/*"
done
BINARY_BYTES=$(zstd -dc "$T/with/$B" | tar -t -v | awk '$6 ~ /^(bin|cni)\// {s += $3} END {print s}')

python3 - "$T/results" "$ROUNDS" "$BINARY_BYTES" "$VERSION" <<'PY'
import sys, subprocess, platform
path, rounds, binary_bytes, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(path):
    *name, wall, cpu, rss, size = line.split()
    rows.setdefault(" ".join(name), []).append((float(wall), float(cpu), int(rss), int(size)))
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(f"machine: {cpu_model}, {subprocess.getoutput('nproc')} cores, {mem} GiB RAM, kernel {platform.release()}")
print(f"data: Kubernetes {version} images (reference toolchain), node binaries {binary_bytes / 2**20:.0f} MiB uncompressed; median of {rounds} rounds, cold cache\n")
print("| step | wall (s) | CPU user+sys (s) | peak RSS (MiB) | bundle (MiB) |")
print("|---|---:|---:|---:|---:|")
for name, runs in rows.items():
    runs.sort()
    wall, cpu, rss, size = runs[len(runs) // 2]
    print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss} | {size / 2**20:.1f} |")
PY
