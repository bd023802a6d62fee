package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// spread is min/median/max of repeated measurements.
type spread struct{ min, med, max float64 }

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Sorted(slices.Values(xs))
	return spread{s[0], s[len(s)/2], s[len(s)-1]}
}

// format prints "min/median/max" with the verb f (e.g. "%.0f").
func (s spread) format(f string) string {
	return fmt.Sprintf(f+" / "+f+" / "+f, s.min, s.med, s.max)
}

func durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

// loadAvg is the 1-minute load average (the machine is shared; every
// figure is printed with it).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// thousands writes n with commas (50,000).
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
