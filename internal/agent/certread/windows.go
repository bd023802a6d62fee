//go:build windows

package certread

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"syscall"

	"golang.org/x/sys/windows"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// windowsStore enumerates a system store through crypt32 directly
// (CertOpenStore + CertEnumCertificatesInStore), never through Exchange
// cmdlets: Get-ExchangeCertificate hides exactly the keyless duplicates
// mxprobe looks for.
type windowsStore struct {
	loc  certstore.WindowsLocation
	opts certstore.Options
}

func openWindows(loc certstore.WindowsLocation, opts certstore.Options) (certstore.Store, error) {
	return &windowsStore{loc: loc, opts: opts}, nil
}

func (s *windowsStore) Read(ctx context.Context) (certstore.Contents, error) {
	location := certstore.SchemeWindows + ":" + s.loc.String()
	inv := certstore.Contents{Location: location, ReadAt: s.opts.Now()}
	store, err := openSystemStore(s.loc)
	if err != nil {
		return certstore.Contents{}, fmt.Errorf("certread: %s: CertOpenStore: %w", location, err)
	}
	defer windows.CertCloseStore(store, 0)

	var cc *windows.CertContext
	for {
		if err := ctx.Err(); err != nil {
			if cc != nil {
				windows.CertFreeCertificateContext(cc)
			}
			return certstore.Contents{}, fmt.Errorf("certread: reading %s: %w", location, err)
		}
		// CertEnumCertificatesInStore frees the previous context.
		next, err := windows.CertEnumCertificatesInStore(store, cc)
		cc = next
		if cc == nil {
			if err != nil && !isEndOfEnum(err) {
				inv.Problems = append(inv.Problems, problemf(location, ErrStoreEnum,
					"stopped after %d certificate(s): %v", len(inv.Certificates)+len(inv.Problems), err))
			}
			break
		}
		entry := inspectContext(cc)
		c, p := entry.certificate(location)
		if p != nil {
			inv.Problems = append(inv.Problems, *p)
			continue
		}
		inv.Certificates = append(inv.Certificates, c)
	}
	sort.Slice(inv.Certificates, func(i, j int) bool { return inv.Certificates[i].Thumbprint < inv.Certificates[j].Thumbprint })
	return inv, nil
}

// isEndOfEnum reports the normal end of CertEnumCertificatesInStore.
func isEndOfEnum(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return uint32(errno) == uint32(windows.CRYPT_E_NOT_FOUND) || errno == windows.ERROR_NO_MORE_FILES
}
