//go:build !windows

package certread

import (
	"fmt"
	"runtime"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// OpenWindowsSigner needs the Windows key store; elsewhere it returns an
// error wrapping ErrUnsupported.
func OpenWindowsSigner(loc certstore.WindowsLocation, thumbprint string) (*StoreSigner, error) {
	return nil, fmt.Errorf("%w: signing with the key of %s in windows:%s on %s", ErrUnsupported, thumbprint, loc, runtime.GOOS)
}
