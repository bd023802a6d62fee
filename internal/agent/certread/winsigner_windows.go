//go:build windows

package certread

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
	"golang.org/x/sys/windows"
)

// Thin syscall layer of StoreSigner: find a certificate by thumbprint,
// acquire its CNG key silently, NCryptSignHash, free. Every decision about
// padding, hashes and signature formats lives in signer.go.

var procNCryptSignHash = modncrypt.NewProc("NCryptSignHash")

const (
	ncryptSilentFlag = 0x00000040 // NCRYPT_SILENT_FLAG
	bcryptPadPKCS1   = 0x00000002 // BCRYPT_PAD_PKCS1
	bcryptPadPSS     = 0x00000008 // BCRYPT_PAD_PSS
)

// bcryptPKCS1PaddingInfo mirrors BCRYPT_PKCS1_PADDING_INFO.
type bcryptPKCS1PaddingInfo struct {
	AlgID *uint16
}

// bcryptPSSPaddingInfo mirrors BCRYPT_PSS_PADDING_INFO.
type bcryptPSSPaddingInfo struct {
	AlgID *uint16
	Salt  uint32
}

// ncryptKey holds what a StoreSigner keeps open: the store, the
// certificate context found in it, and its NCrypt key.
type ncryptKey struct {
	store      windows.Handle
	cc         *windows.CertContext
	key        windows.Handle // NCRYPT_KEY_HANDLE
	callerFree bool           // we own key (else it is cached on cc)
}

// OpenWindowsSigner finds the certificate with the given SHA-1 thumbprint
// in a system store (opened read-only), acquires its private key silently
// as a CNG key (CRYPT_ACQUIRE_SILENT_FLAG | CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG,
// the way the inventory probes it) and returns a signer holding the key
// handle. The caller must Close it. A key only a legacy CryptoAPI CSP can
// open yields ErrLegacyCSPKey.
func OpenWindowsSigner(loc certstore.WindowsLocation, tp string) (*StoreSigner, error) {
	desc := certstore.SchemeWindows + ":" + loc.String() + " " + thumbprint.Normalize(tp)
	hash, err := thumbprint.Bytes(tp)
	if err != nil {
		return nil, err
	}
	store, err := openSystemStore(loc)
	if err != nil {
		return nil, fmt.Errorf("certread: %s: CertOpenStore: %w", desc, err)
	}
	k := &ncryptKey{store: store}
	ok := false
	defer func() {
		if !ok {
			k.close() //nolint:errcheck // already failing
		}
	}()

	blob := windows.CryptHashBlob{Size: uint32(len(hash)), Data: &hash[0]}
	cc, err := windows.CertFindCertificateInStore(store,
		windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, 0,
		windows.CERT_FIND_SHA1_HASH, unsafe.Pointer(&blob), nil)
	runtime.KeepAlive(hash)
	if cc == nil {
		if err == nil || isEndOfEnum(err) {
			return nil, fmt.Errorf("%w: %s", ErrCertNotInStore, desc)
		}
		return nil, fmt.Errorf("certread: %s: CertFindCertificateInStore: %w", desc, err)
	}
	k.cc = cc
	if cc.EncodedCert == nil || cc.Length == 0 {
		return nil, fmt.Errorf("%w: %s: empty certificate context", certstore.ErrMalformed, desc)
	}
	der := append([]byte(nil), unsafe.Slice(cc.EncodedCert, cc.Length)...)
	cert, err := parseStoreCert(der, tp)
	if err != nil {
		return nil, fmt.Errorf("certread: %s: %w", desc, err)
	}

	var keySpec uint32
	err = windows.CryptAcquireCertificatePrivateKey(cc,
		windows.CRYPT_ACQUIRE_SILENT_FLAG|windows.CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG,
		nil, &k.key, &keySpec, &k.callerFree)
	if err != nil {
		code, msg := errnoCode(err)
		return nil, fmt.Errorf("certread: %s: CryptAcquireCertificatePrivateKey: %s", desc, formatWinError(code, msg))
	}
	if keySpec != windows.CERT_NCRYPT_KEY_SPEC {
		// A CryptoAPI provider handle: release it with CryptReleaseContext,
		// not NCryptFreeObject.
		if k.callerFree {
			windows.CryptReleaseContext(k.key, 0) //nolint:errcheck // best effort release
		}
		k.key, k.callerFree = 0, false
		return nil, fmt.Errorf("%w: %s (key spec %d): %s", ErrLegacyCSPKey, desc, keySpec, legacyCSPHint)
	}
	ok = true
	return newStoreSigner(cert, desc, k), nil
}

func (k *ncryptKey) signHash(p SignParams, digest []byte) ([]byte, error) {
	if err := procNCryptSignHash.Find(); err != nil {
		return nil, fmt.Errorf("ncrypt.dll unavailable: %w", err)
	}
	if len(digest) == 0 {
		return nil, errors.New("empty digest")
	}
	var alg *uint16
	if p.AlgID != "" {
		var err error
		if alg, err = windows.UTF16PtrFromString(p.AlgID); err != nil {
			return nil, err
		}
	}
	var padInfo unsafe.Pointer
	flags := uint32(ncryptSilentFlag)
	pkcs1 := &bcryptPKCS1PaddingInfo{AlgID: alg}
	pss := &bcryptPSSPaddingInfo{AlgID: alg, Salt: uint32(p.SaltLen)}
	switch p.Padding {
	case PaddingPKCS1:
		padInfo, flags = unsafe.Pointer(pkcs1), flags|bcryptPadPKCS1
	case PaddingPSS:
		padInfo, flags = unsafe.Pointer(pss), flags|bcryptPadPSS
	case PaddingNone:
	default:
		return nil, fmt.Errorf("padding %v", p.Padding)
	}
	defer runtime.KeepAlive(alg)
	defer runtime.KeepAlive(pkcs1)
	defer runtime.KeepAlive(pss)
	defer runtime.KeepAlive(digest)

	var size uint32
	r, _, _ := procNCryptSignHash.Call(uintptr(k.key), uintptr(padInfo),
		uintptr(unsafe.Pointer(&digest[0])), uintptr(len(digest)),
		0, 0, uintptr(unsafe.Pointer(&size)), uintptr(flags))
	// SECURITY_STATUS is 32 bits; the upper half of the register is not
	// part of the result.
	if uint32(r) != 0 {
		return nil, fmt.Errorf("NCryptSignHash (size): %s", formatWinError(uint32(r), syscall.Errno(r).Error()))
	}
	if size == 0 || size > 16<<10 {
		return nil, fmt.Errorf("NCryptSignHash: unexpected signature size %d", size)
	}
	sig := make([]byte, size)
	r, _, _ = procNCryptSignHash.Call(uintptr(k.key), uintptr(padInfo),
		uintptr(unsafe.Pointer(&digest[0])), uintptr(len(digest)),
		uintptr(unsafe.Pointer(&sig[0])), uintptr(len(sig)), uintptr(unsafe.Pointer(&size)), uintptr(flags))
	if uint32(r) != 0 {
		return nil, fmt.Errorf("NCryptSignHash: %s", formatWinError(uint32(r), syscall.Errno(r).Error()))
	}
	return sig[:size], nil
}

// close frees the key (when we own it), the certificate context and the
// store, in that order.
func (k *ncryptKey) close() error {
	var errs []error
	if k.key != 0 && k.callerFree {
		if err := procNCryptFreeObject.Find(); err != nil {
			errs = append(errs, err)
		} else if r, _, _ := procNCryptFreeObject.Call(uintptr(k.key)); uint32(r) != 0 {
			errs = append(errs, fmt.Errorf("NCryptFreeObject: %s", formatWinError(uint32(r), syscall.Errno(r).Error())))
		}
	}
	k.key, k.callerFree = 0, false
	if k.cc != nil {
		if err := windows.CertFreeCertificateContext(k.cc); err != nil {
			errs = append(errs, fmt.Errorf("CertFreeCertificateContext: %w", err))
		}
		k.cc = nil
	}
	if k.store != 0 {
		if err := windows.CertCloseStore(k.store, 0); err != nil {
			errs = append(errs, fmt.Errorf("CertCloseStore: %w", err))
		}
		k.store = 0
	}
	return errors.Join(errs...)
}
