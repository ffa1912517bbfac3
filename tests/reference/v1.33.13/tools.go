//go:build tools

// Package reference pins the Kubernetes commands tests/reference/build.sh builds.
package reference

import (
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
