//go:build !windows

package certread

import (
	"fmt"
	"runtime"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

func openWindows(loc certstore.WindowsLocation, _ certstore.Options) (certstore.Store, error) {
	return nil, fmt.Errorf("%w: windows:%s on %s (capture it on the server with a snapshot instead)", ErrUnsupported, loc, runtime.GOOS)
}
