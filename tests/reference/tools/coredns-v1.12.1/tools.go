//go:build tools

// Package reference pins the commands tests/reference/build.sh builds.
package reference

import (
	_ "github.com/coredns/coredns"
)
