package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunQueueWait is the time process i's threads have spent runnable but
// waiting for a CPU so far (the second field of each
// /proc/PID/task/TID/schedstat, summed; a thread that exited no longer
// counts). Against the process's CPU time it says how much a loaded
// machine held it back: latency a profile of the process cannot show.
func (c *Cluster) RunQueueWait(i int) (time.Duration, error) {
	pid := c.Procs[i].Process.Pid
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("bench: no schedstat for pid %d (%v)", pid, err)
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread exited
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return 0, fmt.Errorf("bench: %s: %q", t, b)
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: %s: %w", t, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}
