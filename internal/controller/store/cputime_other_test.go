//go:build !unix

package store

import "time"

var cpuStart = time.Now()

// cpuNow falls back to wall time where getrusage does not exist.
func cpuNow() int64 { return int64(time.Since(cpuStart)) }
