//go:build windows

package certread

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

// Thin syscall layer: every function here only moves bytes between Win32
// and Go values; all decisions live in winentry.go and acl.go.

// Procedures golang.org/x/sys/windows does not wrap. Lazy procs are
// resolved once and never change (read-only after init, like x/sys's own).
var (
	modcrypt32  = windows.NewLazySystemDLL("crypt32.dll")
	modncrypt   = windows.NewLazySystemDLL("ncrypt.dll")
	modadvapi32 = windows.NewLazySystemDLL("advapi32.dll")

	procCertGetCertificateContextProperty = modcrypt32.NewProc("CertGetCertificateContextProperty")
	procNCryptGetProperty                 = modncrypt.NewProc("NCryptGetProperty")
	procNCryptFreeObject                  = modncrypt.NewProc("NCryptFreeObject")
	procCryptGetProvParam                 = modadvapi32.NewProc("CryptGetProvParam")
)

const (
	certKeyProvInfoPropID  = 2  // CERT_KEY_PROV_INFO_PROP_ID
	certFriendlyNamePropID = 11 // CERT_FRIENDLY_NAME_PROP_ID
	ppKeysetSecDescr       = 8  // PP_KEYSET_SEC_DESCR
	maxPropertyBytes       = 1 << 20
)

// ncryptSecurityDescrProperty is NCRYPT_SECURITY_DESCR_PROPERTY.
const ncryptSecurityDescrProperty = "Security Descr"

// openSystemStore opens a system store read-only, without creating it.
func openSystemStore(loc certstore.WindowsLocation) (windows.Handle, error) {
	var flags uint32 = windows.CERT_STORE_READONLY_FLAG | windows.CERT_STORE_OPEN_EXISTING_FLAG
	switch loc.Location {
	case certstore.LocalMachine:
		flags |= windows.CERT_SYSTEM_STORE_LOCAL_MACHINE
	case certstore.CurrentUser:
		flags |= windows.CERT_SYSTEM_STORE_CURRENT_USER
	default:
		return 0, fmt.Errorf("%w: %v", certstore.ErrBadLocation, loc)
	}
	name, err := windows.UTF16PtrFromString(loc.Store)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", certstore.ErrBadLocation, err)
	}
	h, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM_W, 0, 0, flags, uintptr(unsafe.Pointer(name)))
	runtime.KeepAlive(name)
	return h, err
}

// inspectContext gathers everything about one certificate context.
func inspectContext(cc *windows.CertContext) windowsEntry {
	var e windowsEntry
	if cc.EncodedCert != nil && cc.Length > 0 {
		e.der = append([]byte(nil), unsafe.Slice(cc.EncodedCert, cc.Length)...)
	}
	if b, err := certProperty(cc, certFriendlyNamePropID); err == nil && len(b) >= 2 {
		e.friendlyName = windows.UTF16ToString(unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2))
	}
	provInfo, err := certProperty(cc, certKeyProvInfoPropID)
	if err != nil || len(provInfo) == 0 {
		return e // no key association: KeyAbsent
	}
	e.hasKeyProvInfo = true
	e.container, e.provider = parseKeyProvInfo(provInfo)

	var key windows.Handle
	var keySpec uint32
	var callerFree bool
	err = windows.CryptAcquireCertificatePrivateKey(cc,
		windows.CRYPT_ACQUIRE_SILENT_FLAG|windows.CRYPT_ACQUIRE_PREFER_NCRYPT_KEY_FLAG,
		nil, &key, &keySpec, &callerFree)
	if err != nil {
		e.acquireCode, e.acquireMsg = errnoCode(err)
		if e.acquireCode == 0 {
			e.acquireCode = 0xFFFFFFFF
		}
		return e
	}
	e.cng = keySpec == windows.CERT_NCRYPT_KEY_SPEC
	var sd []byte
	if e.cng {
		sd, err = ncryptSecurityDescriptor(key)
		if callerFree && procNCryptFreeObject.Find() == nil {
			procNCryptFreeObject.Call(uintptr(key)) //nolint:errcheck // best effort release
		}
	} else {
		sd, err = capiSecurityDescriptor(key)
		if callerFree {
			windows.CryptReleaseContext(key, 0) //nolint:errcheck // best effort release
		}
	}
	if err != nil {
		e.aclErr = err.Error()
		return e
	}
	acl, err := parseSecurityDescriptorDACL(sd)
	if err != nil {
		e.aclErr = err.Error()
		return e
	}
	e.acl = &acl
	return e
}

// errnoCode extracts the Win32/HRESULT code of err.
func errnoCode(err error) (uint32, string) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return uint32(errno), errno.Error()
	}
	return 0, err.Error()
}

// certProperty reads a certificate context property (size query, then
// data).
func certProperty(cc *windows.CertContext, id uint32) ([]byte, error) {
	if err := procCertGetCertificateContextProperty.Find(); err != nil {
		return nil, err
	}
	var size uint32
	r, _, e := procCertGetCertificateContextProperty.Call(uintptr(unsafe.Pointer(cc)), uintptr(id), 0, uintptr(unsafe.Pointer(&size)))
	if r == 0 {
		return nil, e
	}
	if size == 0 {
		return nil, nil
	}
	if size > maxPropertyBytes {
		return nil, fmt.Errorf("property %d too large (%d bytes)", id, size)
	}
	buf := make([]byte, size)
	r, _, e = procCertGetCertificateContextProperty.Call(uintptr(unsafe.Pointer(cc)), uintptr(id), uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)))
	if r == 0 {
		return nil, e
	}
	return buf[:size], nil
}

// parseKeyProvInfo reads container and provider names from the
// CRYPT_KEY_PROV_INFO crypt32 returned in buf (its string pointers point
// into buf itself); winblob.go decodes it without dereferencing them.
func parseKeyProvInfo(buf []byte) (container, provider string) {
	if len(buf) == 0 {
		return "", ""
	}
	container, provider, err := parseKeyProvInfoBlob(buf, uint64(uintptr(unsafe.Pointer(&buf[0]))), int(unsafe.Sizeof(uintptr(0))))
	if err != nil {
		return "", ""
	}
	return container, provider
}

// ncryptSecurityDescriptor reads NCRYPT_SECURITY_DESCR_PROPERTY with
// DACL_SECURITY_INFORMATION.
func ncryptSecurityDescriptor(key windows.Handle) ([]byte, error) {
	if err := procNCryptGetProperty.Find(); err != nil {
		return nil, fmt.Errorf("ncrypt.dll unavailable: %w", err)
	}
	var size uint32
	name, err := windows.UTF16PtrFromString(ncryptSecurityDescrProperty)
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(name)
	r, _, _ := procNCryptGetProperty.Call(uintptr(key), uintptr(unsafe.Pointer(name)), 0, 0, uintptr(unsafe.Pointer(&size)), windows.DACL_SECURITY_INFORMATION)
	if r != 0 {
		return nil, fmt.Errorf("NCryptGetProperty(Security Descr): %s", formatWinError(uint32(r), syscall.Errno(r).Error()))
	}
	if size == 0 || size > maxPropertyBytes {
		return nil, fmt.Errorf("NCryptGetProperty(Security Descr): unexpected size %d", size)
	}
	buf := make([]byte, size)
	r, _, _ = procNCryptGetProperty.Call(uintptr(key), uintptr(unsafe.Pointer(name)), uintptr(unsafe.Pointer(&buf[0])), uintptr(size), uintptr(unsafe.Pointer(&size)), windows.DACL_SECURITY_INFORMATION)
	if r != 0 {
		return nil, fmt.Errorf("NCryptGetProperty(Security Descr): %s", formatWinError(uint32(r), syscall.Errno(r).Error()))
	}
	return buf[:size], nil
}

// capiSecurityDescriptor reads PP_KEYSET_SEC_DESCR of a legacy CSP key.
func capiSecurityDescriptor(prov windows.Handle) ([]byte, error) {
	if err := procCryptGetProvParam.Find(); err != nil {
		return nil, fmt.Errorf("advapi32.dll unavailable: %w", err)
	}
	var size uint32
	r, _, e := procCryptGetProvParam.Call(uintptr(prov), ppKeysetSecDescr, 0, uintptr(unsafe.Pointer(&size)), windows.DACL_SECURITY_INFORMATION)
	if r == 0 {
		code, msg := errnoCode(e)
		return nil, fmt.Errorf("CryptGetProvParam(PP_KEYSET_SEC_DESCR): %s", formatWinError(code, msg))
	}
	if size == 0 || size > maxPropertyBytes {
		return nil, fmt.Errorf("CryptGetProvParam(PP_KEYSET_SEC_DESCR): unexpected size %d", size)
	}
	buf := make([]byte, size)
	r, _, e = procCryptGetProvParam.Call(uintptr(prov), ppKeysetSecDescr, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), windows.DACL_SECURITY_INFORMATION)
	if r == 0 {
		code, msg := errnoCode(e)
		return nil, fmt.Errorf("CryptGetProvParam(PP_KEYSET_SEC_DESCR): %s", formatWinError(code, msg))
	}
	return buf[:size], nil
}

// parseSecurityDescriptorDACL decodes the DACL of a self-relative
// security descriptor held in buf (winblob.go).
func parseSecurityDescriptorDACL(buf []byte) (KeyACL, error) {
	return parseSecurityDescriptorBlob(buf)
}
