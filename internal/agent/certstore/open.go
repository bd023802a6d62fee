package certstore

import (
	"fmt"
	"strings"
)

// Scheme names accepted by Open.
const (
	SchemePEMDir   = "pemdir"
	SchemeSnapshot = "snapshot"
	SchemeWindows  = "windows"
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
func Open(uri string, opts Options) (Store, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme (want pemdir:, snapshot: or windows:)", ErrUnknownScheme, uri)
	}
	opts = opts.withDefaults()
	switch strings.ToLower(scheme) {
	case SchemePEMDir:
		if rest == "" {
			return nil, fmt.Errorf("certstore: pemdir: needs a directory path")
		}
		return &pemDirStore{dir: rest, opts: opts}, nil
	case SchemeSnapshot:
		if rest == "" {
			return nil, fmt.Errorf("certstore: snapshot: needs a file path")
		}
		return &snapshotStore{path: rest, opts: opts}, nil
	case SchemeWindows:
		loc, err := ParseWindowsLocation(rest)
		if err != nil {
			return nil, err
		}
		return openWindows(loc, opts)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownScheme, scheme)
}
