//go:build !windows

package exchange

import (
	"context"
	"fmt"
	"runtime"
)

// Collect is only available on Windows, where the Exchange Management Shell
// runs; elsewhere it returns an error wrapping ErrUnsupported. Use
// LoadInventoryFile with an inventory exported on the server instead.
func Collect(ctx context.Context, opts CollectOptions) (*Inventory, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_ = opts
	return nil, fmt.Errorf("%w (%s): export an inventory on the Exchange server and pass --exchange-inventory", ErrUnsupported, runtime.GOOS)
}
