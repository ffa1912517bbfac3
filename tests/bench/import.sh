#!/usr/bin/env bash
# Benchmark: `airadm images import` against the obvious alternative on the same bundle and the
# same containerd, in one run: `zstd -dc | tar x`, then `tar | ctr -n k8s.io images import`.
# Data: the realistic image set of build.sh (7 images, layers of real Debian Go binaries).
# Each round starts a fresh containerd (not timed). containerd's own CPU during each run is read
# from /proc/PID/stat and reported in its own column. Usage: tests/bench/import.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/registry.sh
ROUNDS=${1:-3}
cargo build --release --locked --bins -p builder -p installer -p testkit >/dev/null 2>&1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
T=$(mktemp -d /tmp/airadm-bench-import.XXXXXX)
REG_PID= CTD_PID=
stop_containerd() { if [ -n "$CTD_PID" ]; then kill "$CTD_PID" 2>/dev/null; wait "$CTD_PID" 2>/dev/null || true; CTD_PID=; fi; }
cleanup() { stop_containerd; [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

start_registry "$T/registry"
BINARIES=()
for b in /usr/bin/etcd /usr/bin/etcdctl /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 \
         /usr/sbin/runc /usr/bin/skopeo /usr/bin/docker-registry /usr/bin/podman /usr/bin/kubectl /usr/bin/umoci; do
  [ -f "$b" ] && BINARIES+=("$(readlink -f "$b")")
done
"$BIN/seed-registry" "$REG" bench "${BINARIES[@]}" > /dev/null
"$BIN/airbundle" keygen --output-dir "$T" --name bench >/dev/null
"$BIN/airbundle" build --kubernetes-version v1.31.2 --arch amd64 --mirror "$REG" --plain-http --quiet \
  --signing-key "$T/bench.key" --output-dir "$T/out" --cache-dir "$T/cache" --no-binaries
BUNDLE=$T/out/kubernetes-v1.31.2-linux-amd64.tar.zst


start_ctd() { start_containerd "$T/ctd"; }

ctd_ticks() { awk '{print $14 + $15}' "/proc/$CTD_PID/stat"; }

measure() { # name command...
  local name=$1; shift
  local before; before=$(ctd_ticks)
  /usr/bin/time -v -o "$T/time.txt" "$@" >/dev/null 2>"$T/err.txt" || { cat "$T/err.txt" >&2; exit 1; }
  local ctd_cpu; ctd_cpu=$(echo "$(ctd_ticks) $before $(getconf CLK_TCK)" | awk '{printf "%.2f", ($1 - $2) / $3}')
  local n; n=$(ctr --address "$T/ctd/containerd.sock" -n k8s.io images check | grep -c 'complete.*true' || true)
  python3 - "$name" "$n" "$T/time.txt" "$ctd_cpu" >> "$T/results" <<'PY'
import re, sys
name, complete, path, ctd_cpu = sys.argv[1:]
t = open(path).read()
f = lambda k: re.search(re.escape(k) + r": (.*)", t).group(1).strip()
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"))))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
print(name, f"{wall:.2f}", f"{cpu:.2f}", int(f("Maximum resident set size (kbytes)")) // 1024, complete, ctd_cpu)
PY
}

S=$T/ctd/containerd.sock
for round in $(seq "$ROUNDS"); do
  start_ctd
  rm -rf "$T/x"; mkdir -p "$T/x"
  measure "zstd+tar+ctr-import" bash -c "zstd -dc '$BUNDLE' | tar -x -C '$T/x' && tar -C '$T/x/oci' -cf - . | ctr --address '$S' -n k8s.io images import --snapshotter overlayfs -"
  stop_containerd
  start_ctd
  measure "airadm-images-import" "$BIN/airadm" images import --bundle "$BUNDLE" --trusted-key "$T/bench.pub" --cri-socket "unix://$S"
  stop_containerd
  start_ctd
  measure "airadm-with-containerd-applier" env AIRADM_APPLIER=containerd \
    "$BIN/airadm" images import --bundle "$BUNDLE" --trusted-key "$T/bench.pub" --cri-socket "unix://$S"
  stop_containerd
done

python3 - "$T/results" "$(stat -c %s "$BUNDLE")" "$ROUNDS" <<'PY'
import sys, subprocess, platform
path, size, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for line in open(path):
    name, wall, cpu, rss, complete, ctd_cpu = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu), int(rss), int(complete), float(ctd_cpu)))
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"machine: {cpu_model}, {subprocess.getoutput('nproc')} cores, kernel {platform.release()}")
print(f"bundle: {size / 2**20:.0f} MiB, 7 images; median of {rounds} runs, fresh containerd each\n")
print("| tool | wall (s) | CPU user+sys (s) | containerd CPU (s) | peak RSS (MiB) | images complete+unpacked |")
print("|---|---:|---:|---:|---:|---:|")
med = {}
for name, runs in rows.items():
    runs.sort()
    wall, cpu, rss, complete, ctd_cpu = runs[len(runs) // 2]
    med[name] = wall
    print(f"| {name} | {wall:.2f} | {cpu:.2f} | {ctd_cpu:.2f} | {rss} | {complete} |")
print()
for name, runs in rows.items():
    print(f"{name}: walls {' '.join(f'{r[0]:.2f}' for r in runs)} s; highest peak RSS {max(r[2] for r in runs)} MiB")
print(f"\nairadm is {med['zstd+tar+ctr-import'] / med['airadm-images-import']:.2f}x faster (wall)")
PY
