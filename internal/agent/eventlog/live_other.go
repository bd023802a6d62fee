//go:build !windows

package eventlog

import (
	"context"
	"fmt"
	"runtime"
)

func (Live) Read(context.Context, Query) (Result, error) {
	return Result{}, fmt.Errorf("%w on %s: export the Application and System logs to .evtx and use --event-log-file", ErrUnavailable, runtime.GOOS)
}
