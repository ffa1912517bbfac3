//go:build tools

// Package reference pins the commands tests/reference/build.sh builds.
package reference

import (
	_ "go.etcd.io/etcd/server/v3"
)
