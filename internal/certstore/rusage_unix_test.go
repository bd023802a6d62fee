//go:build unix

package certstore

import (
	"syscall"
	"time"
)

// processCPUTime is user+system CPU time of this process, so benchmarks
// can report CPU cost independent of machine load.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
