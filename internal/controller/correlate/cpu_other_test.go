//go:build !unix

package correlate

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
