//go:build !unix

package main

import (
	"errors"
	"os"
	"time"
)

// maxRSSOf is unknown (0) where rusage does not exist: mxbench measures
// on Linux; it only builds elsewhere.
func maxRSSOf(*os.ProcessState) int64 { return 0 }

// selfCPU is not measured where rusage does not exist.
func selfCPU() (time.Duration, error) {
	return 0, errors.New("mxbench: own CPU time needs getrusage (unix)")
}
