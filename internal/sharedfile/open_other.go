//go:build !windows

package sharedfile

import "os"

// Open opens path for reading.
func Open(path string) (*os.File, error) { return os.Open(path) }
