//go:build !windows

package certstore

import (
	"fmt"
	"runtime"
)

func openWindows(loc WindowsLocation, _ Options) (Store, error) {
	return nil, fmt.Errorf("%w: windows:%s on %s (capture it on the server with a snapshot instead)", ErrUnsupported, loc, runtime.GOOS)
}
