//go:build !linux

package correlate

import "time"

// threadCPU: no per-thread CPU clock here; rounds are paced by wall time.
func threadCPU() (time.Duration, bool) { return 0, false }
