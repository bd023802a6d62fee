//go:build !windows

package queue

import (
	"context"
	"fmt"
	"runtime"
)

// CollectQueues is only available on Windows, where the Exchange Management
// Shell runs; elsewhere it returns an error wrapping ErrUnsupported. Export
// Get-Queue on the server (docs/queue-format.md) and parse the file instead.
func CollectQueues(ctx context.Context, opts CollectOptions) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_ = opts
	return nil, fmt.Errorf("%w (%s): export Get-Queue on the Exchange server (docs/queue-format.md) and pass --queue-file FILE", ErrUnsupported, runtime.GOOS)
}
