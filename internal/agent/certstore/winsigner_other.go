//go:build !windows

package certstore

import (
	"fmt"
	"runtime"
)

// OpenWindowsSigner needs the Windows key store; elsewhere it returns an
// error wrapping ErrUnsupported.
func OpenWindowsSigner(loc WindowsLocation, thumbprint string) (*StoreSigner, error) {
	return nil, fmt.Errorf("%w: signing with the key of %s in windows:%s on %s", ErrUnsupported, thumbprint, loc, runtime.GOOS)
}
