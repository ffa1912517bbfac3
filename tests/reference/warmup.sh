#!/usr/bin/env bash
# Builds, into the per-machine cache, what the tests take from the reference toolchain: every
# reference release's kubeadm and skeleton (testkit::reference::RELEASES) and v1.34.4's control
# plane, image and node binaries (the API-phase, image and node-binary tests). tests/run.sh runs it in the background
# while cargo builds; a test needing a command waits on build.sh's per-version lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" v1.34.4 kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl kubelet crictl \
  bridge host-local loopback portmap containerd etcd etcdctl coredns pause skeleton
for release in v1.31.0 v1.32.13 v1.33.13 v1.35.4 v1.36.3 v1.37.2; do
  "$here/build.sh" "$release" kubeadm skeleton
done
# Everything is in the per-machine cache now: Go's build cache (about 10 GiB for these builds)
# would only speed up building them again, and the end-to-end tests need the disk. Kept with
# AIRADM_KEEP_GOCACHE=1.
if [ -z "${AIRADM_KEEP_GOCACHE:-}" ]; then
  echo "reference: all built; go clean -cache ($(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1) freed; AIRADM_KEEP_GOCACHE=1 keeps it)"
  go clean -cache
fi
