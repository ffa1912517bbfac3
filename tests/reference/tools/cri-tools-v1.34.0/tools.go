//go:build tools

// Package reference pins the commands tests/reference/build.sh builds.
package reference

import (
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
)
