package certread

import (
	"fmt"
	"strings"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// Open returns the Store named by uri:
//
//	pemdir:PATH                 a directory of PEM/DER/PKCS#12 files
//	snapshot:FILE               a JSON inventory written by WriteSnapshot
//	windows:LocalMachine\My     a Windows system store (also CurrentUser\My,
//	                            LocalMachine\WebHosting, ...; Windows only)
//
// The scheme is case-insensitive. An unknown or missing scheme yields
// ErrUnknownScheme; windows: on another OS yields ErrUnsupported. Open does
// not touch the store: errors reading it surface from Store.Read.
func Open(uri string, opts certstore.Options) (certstore.Store, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme (want pemdir:, snapshot: or windows:)", ErrUnknownScheme, uri)
	}
	opts = opts.WithDefaults()
	switch strings.ToLower(scheme) {
	case certstore.SchemePEMDir:
		return certstore.OpenDir(rest, opts)
	case certstore.SchemeSnapshot:
		if rest == "" {
			return nil, fmt.Errorf("certread: snapshot: needs a file path")
		}
		return &snapshotStore{path: rest, opts: opts}, nil
	case certstore.SchemeWindows:
		loc, err := certstore.ParseWindowsLocation(rest)
		if err != nil {
			return nil, err
		}
		return openWindows(loc, opts)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownScheme, scheme)
}
