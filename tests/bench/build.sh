#!/usr/bin/env bash
# Benchmark: `airbundle build` against the obvious alternative on the same data, in one run:
# `skopeo copy` of each image into one OCI layout, then `tar | zstd -T0` at the same level.
#
# A loopback registry is seeded with the seven v1.31.2 image names, linux/amd64, each a shared
# busybox base layer plus a gzip layer of real Go binaries shipped by Debian packages (etcd,
# containerd, runc, skopeo, docker-registry, podman, kubectl, ...). Each side runs ROUNDS times,
# alternating, from a cold cache; the table reports the median run of each, measured with
# /usr/bin/time -v (wall, user+sys CPU, peak RSS). Usage: [BASELINE_AIRBUNDLE=PATH] tests/bench/build.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/registry.sh
ROUNDS=${1:-3}
LEVEL=1   # airbundle's default (bundle::writer::DEFAULT_LEVEL); the baseline runs at the same level
cargo build --release --locked --bins -p builder -p testkit >/dev/null 2>&1
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
T=$(mktemp -d /tmp/airadm-bench.XXXXXX)
REG_PID=
cleanup() { [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null; cat "$T/results" >&2 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

start_registry "$T/registry"

BINARIES=()
for b in /usr/bin/etcd /usr/bin/etcdctl /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2 \
         /usr/sbin/runc /usr/bin/skopeo /usr/bin/docker-registry /usr/bin/podman /usr/bin/kubectl /usr/bin/umoci; do
  [ -f "$b" ] && BINARIES+=("$(readlink -f "$b")")
done
echo "bench: seeding $REG with layers made of ${#BINARIES[@]} binaries" >&2
"$BIN/seed-registry" "$REG" bench "${BINARIES[@]}" > "$T/images.txt"
LAYER_BYTES=$(du -sb "$T/registry/data/docker/registry/v2/blobs" | awk '{print $1}')
"$BIN/airbundle" keygen --output-dir "$T" --name bench >/dev/null
minisign -G -W -f -p "$T/cli.pub" -s "$T/cli.key" </dev/null >/dev/null

measure() { # name command... -> appends "name wall cpu rss size" to $T/results
  local name=$1 out=$2; shift 2
  /usr/bin/time -v -o "$T/time.txt" "$@" >/dev/null 2>"$T/err.txt" || { cat "$T/err.txt" >&2; exit 1; }
  python3 - "$name" "$out" "$T/time.txt" >> "$T/results" <<'PY'
import os, re, sys
name, out, path = sys.argv[1:]
t = open(path).read()
def f(key): return re.search(re.escape(key) + r": (.*)", t).group(1).strip()
wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
secs = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
print(name, f"{secs:.2f}", f"{cpu:.2f}", int(f("Maximum resident set size (kbytes)")) // 1024, os.path.getsize(out))
PY
}

IMAGES=$(awk '{print $1}' "$T/images.txt" | tr '\n' ' ')
for round in $(seq "$ROUNDS"); do
  rm -rf "$T/layout" "$T/alt.tar.zst" "$T/ours" "$T/cache"
  measure skopeo+tar+zstd "$T/alt.tar.zst" bash -c "
    for ref in $IMAGES; do
      name=registry.k8s.io/\${ref#*/}
      skopeo copy --quiet --src-tls-verify=false docker://\$ref oci:$T/layout:\$name
    done
    tar -C $T/layout -cf - . | zstd -q -T0 -$LEVEL -o $T/alt.tar.zst"
  rm -rf "$T/layout" "$T/alt.tar.zst" "$T/alt.tar.zst.minisig"
  # The same, signed like our bundles are (minisign's prehashed signature of the file).
  measure skopeo+tar+zstd+minisign "$T/alt.tar.zst" bash -c "
    for ref in $IMAGES; do
      name=registry.k8s.io/\${ref#*/}
      skopeo copy --quiet --src-tls-verify=false docker://\$ref oci:$T/layout:\$name
    done
    tar -C $T/layout -cf - . | zstd -q -T0 -$LEVEL -o $T/alt.tar.zst
    minisign -S -s $T/cli.key -m $T/alt.tar.zst </dev/null"
  measure airbundle "$T/ours/kubernetes-v1.31.2-linux-amd64.tar.zst" \
    "$BIN/airbundle" build --kubernetes-version v1.31.2 --arch amd64 --mirror "$REG" --plain-http \
      --signing-key "$T/bench.key" --output-dir "$T/ours" --cache-dir "$T/cache" --zstd-level "$LEVEL" --quiet --no-binaries
  # BASELINE_AIRBUNDLE=PATH: an earlier airbundle (e.g. built from the previous commit) in the
  # same run, cold cache too, so that a change is compared on the same data and machine state.
  if [ -n "${BASELINE_AIRBUNDLE:-}" ]; then
    rm -rf "$T/ours" "$T/cache"
    measure airbundle-baseline "$T/ours/kubernetes-v1.31.2-linux-amd64.tar.zst" \
      "$BASELINE_AIRBUNDLE" build --kubernetes-version v1.31.2 --arch amd64 --mirror "$REG" --plain-http \
        --signing-key "$T/bench.key" --output-dir "$T/ours" --cache-dir "$T/cache" --zstd-level "$LEVEL" --quiet
  fi
done
rm -rf "$T/ours"
measure airbundle-warm-cache "$T/ours/kubernetes-v1.31.2-linux-amd64.tar.zst" \
  "$BIN/airbundle" build --kubernetes-version v1.31.2 --arch amd64 --mirror "$REG" --plain-http \
    --signing-key "$T/bench.key" --output-dir "$T/ours" --cache-dir "$T/cache" --zstd-level "$LEVEL" --quiet --no-binaries

python3 - "$T/results" "$LAYER_BYTES" "$ROUNDS" "$LEVEL" <<'PY'
import statistics, sys, subprocess, platform
path, layer_bytes, rounds, level = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = {}
for line in open(path):
    name, wall, cpu, rss, size = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu), int(rss), int(size)))
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(f"machine: {cpu_model}, {subprocess.getoutput('nproc')} cores, {mem} GiB RAM, kernel {platform.release()}")
print(f"data: 7 images, {layer_bytes / 2**20:.0f} MiB in the registry's blob store; zstd level {level}; median of {rounds} cold runs\n")
print("| tool | wall (s) | CPU user+sys (s) | peak RSS (MiB) | output (MiB) |")
print("|---|---:|---:|---:|---:|")
med = {}
for name, runs in rows.items():
    runs.sort()
    wall, cpu, rss, size = runs[len(runs) // 2]
    med[name] = wall
    print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss} | {size / 2**20:.1f} |")
for base in ["skopeo+tar+zstd", "skopeo+tar+zstd+minisign"]:
    if base in med and "airbundle" in med:
        print(f"\nairbundle (cold cache) is {med[base] / med['airbundle']:.2f}x faster than {base} (wall)")
PY
