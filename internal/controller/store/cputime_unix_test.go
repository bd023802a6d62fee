//go:build unix

package store

import "syscall"

// cpuNow is the process's CPU time (user + system) in ns: on a shared,
// loaded machine CPU per operation is steadier than wall time.
func cpuNow() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
