//go:build unix

package correlate

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) the test process used so
// far: benchmarks report it next to wall time, which on a shared machine
// measures the other work as much as this.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
