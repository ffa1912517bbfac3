#!/usr/bin/env bash
# Builds, into the per-machine cache, what the tests take from the reference toolchain: every
# reference release's kubeadm and skeleton (testkit::reference::RELEASES) and v1.34.4's control
# plane, image and node binaries (the API-phase, image and node-binary tests). tests/run.sh runs it in the background
# while cargo builds; a test needing a command waits on build.sh's per-version lock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" v1.34.4 kubeadm kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl kubelet crictl \
  bridge host-local loopback portmap etcd etcdctl coredns pause skeleton
for release in v1.31.0 v1.32.13 v1.33.13 v1.35.4 v1.36.3 v1.37.2; do
  "$here/build.sh" "$release" kubeadm skeleton
done
