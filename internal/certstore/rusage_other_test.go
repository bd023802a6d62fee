//go:build !unix

package certstore

import "time"

func processCPUTime() time.Duration { return 0 }
