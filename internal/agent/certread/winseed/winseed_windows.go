//go:build windows

package winseed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/mxprobe/mxprobe/internal/certstore"
)

var (
	modcrypt32  = windows.NewLazySystemDLL("crypt32.dll")
	modadvapi32 = windows.NewLazySystemDLL("advapi32.dll")
	modntdll    = windows.NewLazySystemDLL("ntdll.dll")

	procCertOpenStore                     = modcrypt32.NewProc("CertOpenStore")
	procCertSetCertificateContextProperty = modcrypt32.NewProc("CertSetCertificateContextProperty")
	procCertGetCertificateContextProperty = modcrypt32.NewProc("CertGetCertificateContextProperty")
	procCryptAcquireContextW              = modadvapi32.NewProc("CryptAcquireContextW")
	procCryptImportKey                    = modadvapi32.NewProc("CryptImportKey")
	procCryptDestroyKey                   = modadvapi32.NewProc("CryptDestroyKey")
	procWineGetVersion                    = modntdll.NewProc("wine_get_version")
)

// Provider names and flags (wincrypt.h, ncrypt.h).
const (
	MSEnhancedProv  = "Microsoft Enhanced Cryptographic Provider v1.0"
	MSKeyStorageKSP = "Microsoft Software Key Storage Provider"
	provRSAFull     = 1
	cryptNewKeyset  = 0x8
	cryptDelKeyset  = 0x10
	cryptMachineKS  = 0x20
	cryptSilent     = 0x40
	atKeyExchange   = 1
	keyProvInfoProp = 2
	certStoreDelete = 0x10
)

// IsWine reports whether this Windows program runs under Wine (ntdll
// exports wine_get_version there, never on Windows).
func IsWine() bool { return procWineGetVersion.Find() == nil }

// ProvInfo is CRYPT_KEY_PROV_INFO without the provider parameters.
type ProvInfo struct {
	Container string
	Provider  string
	ProvType  uint32 // 0 for a CNG key storage provider
	Flags     uint32 // CRYPT_MACHINE_KEYSET for machine keys
	KeySpec   uint32
}

// Store is one scratch system store.
type Store struct {
	Loc certstore.WindowsLocation

	mu         sync.Mutex
	containers []ProvInfo // CAPI containers to delete on Close
}

// NewStore creates LocalMachine\mxprobe-test-<random>.
func NewStore() (*Store, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	s := &Store{Loc: certstore.WindowsLocation{Location: certstore.LocalMachine, Store: "mxprobe-test-" + hex.EncodeToString(b[:])}}
	h, err := s.open(0)
	if err != nil {
		return nil, err
	}
	windows.CertCloseStore(h, 0) //nolint:errcheck // just created
	return s, nil
}

// URI is the store's certstore URI, e.g. `windows:LocalMachine\mxprobe-test-...`.
func (s *Store) URI() string { return certstore.SchemeWindows + ":" + s.Loc.String() }

func (s *Store) open(extra uint32) (windows.Handle, error) {
	name, err := windows.UTF16PtrFromString(s.Loc.Store)
	if err != nil {
		return 0, err
	}
	h, err := windows.CertOpenStore(windows.CERT_STORE_PROV_SYSTEM_W, 0, 0,
		windows.CERT_SYSTEM_STORE_LOCAL_MACHINE|extra, uintptr(unsafe.Pointer(name)))
	runtime.KeepAlive(name)
	if err != nil {
		return 0, fmt.Errorf("winseed: CertOpenStore %s: %w", s.Loc, err)
	}
	return h, nil
}

// Close deletes the store and the key containers made for it.
func (s *Store) Close() error {
	s.mu.Lock()
	cs := s.containers
	s.containers = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range cs {
		if err := deleteContainer(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.delete(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// delete removes the system store: CertOpenStore with
// CERT_STORE_DELETE_FLAG returns NULL either way, and the last error says
// whether it worked (x/sys's wrapper turns that 0 into EINVAL, so the proc
// is called directly).
func (s *Store) delete() error {
	name, err := windows.UTF16PtrFromString(s.Loc.Store)
	if err != nil {
		return err
	}
	_, _, e := procCertOpenStore.Call(windows.CERT_STORE_PROV_SYSTEM_W, 0, 0,
		windows.CERT_SYSTEM_STORE_LOCAL_MACHINE|certStoreDelete, uintptr(unsafe.Pointer(name)))
	runtime.KeepAlive(name)
	if errno, ok := e.(syscall.Errno); ok && errno != 0 {
		return fmt.Errorf("winseed: deleting store %s: %w", s.Loc, errno)
	}
	return nil
}

// add puts a context into the store and frees everything: a context the
// store still references keeps the store open, and Wine's registry store
// writes only when the last reference goes.
func (s *Store) add(cc *windows.CertContext) error {
	h, err := s.open(0)
	if err != nil {
		return err
	}
	defer windows.CertCloseStore(h, 0) //nolint:errcheck // flushes
	if err := windows.CertAddCertificateContextToStore(h, cc, windows.CERT_STORE_ADD_REPLACE_EXISTING, nil); err != nil {
		return fmt.Errorf("winseed: CertAddCertificateContextToStore: %w", err)
	}
	return nil
}

func newContext(der []byte) (*windows.CertContext, error) {
	if len(der) == 0 {
		return nil, errors.New("winseed: empty certificate")
	}
	cc, err := windows.CertCreateCertificateContext(windows.X509_ASN_ENCODING|windows.PKCS_7_ASN_ENCODING, &der[0], uint32(len(der)))
	if err != nil {
		return nil, fmt.Errorf("winseed: CertCreateCertificateContext: %w", err)
	}
	return cc, nil
}

// AddKeyless adds a certificate with no key association (the seed
// incident's duplicate).
func (s *Store) AddKeyless(cert *x509.Certificate) error {
	cc, err := newContext(cert.Raw)
	if err != nil {
		return err
	}
	defer windows.CertFreeCertificateContext(cc) //nolint:errcheck // owned here
	return s.add(cc)
}

// AddWithProvInfo adds a certificate whose CERT_KEY_PROV_INFO_PROP_ID is
// info, whether or not such a key exists.
func (s *Store) AddWithProvInfo(cert *x509.Certificate, info ProvInfo) error {
	cc, err := newContext(cert.Raw)
	if err != nil {
		return err
	}
	defer windows.CertFreeCertificateContext(cc) //nolint:errcheck // owned here
	if err := setProvInfo(cc, info); err != nil {
		return err
	}
	return s.add(cc)
}

// AddWithCAPIKey imports key into a new container of the Microsoft
// Enhanced Cryptographic Provider (the machine keyset when machine is true,
// else the user's) and adds cert linked to it. It returns the container's
// provider info.
//
// Wine 8: a user-keyset key is acquired by CryptAcquireCertificatePrivateKey;
// a machine-keyset key is not, because Wine opens the container without
// CRYPT_MACHINE_KEYSET whatever CRYPT_KEY_PROV_INFO.dwFlags says.
func (s *Store) AddWithCAPIKey(cert *x509.Certificate, key *rsa.PrivateKey, machine bool) (ProvInfo, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return ProvInfo{}, err
	}
	info := ProvInfo{Container: "mxprobe-test-" + hex.EncodeToString(b[:]), Provider: MSEnhancedProv, ProvType: provRSAFull, KeySpec: atKeyExchange}
	if machine {
		info.Flags = cryptMachineKS
	}
	blob, err := privateKeyBlob(key)
	if err != nil {
		return ProvInfo{}, err
	}
	prov, err := acquire(info, cryptNewKeyset)
	if err != nil {
		return ProvInfo{}, err
	}
	s.mu.Lock()
	s.containers = append(s.containers, info)
	s.mu.Unlock()
	var hkey uintptr
	r, _, e := procCryptImportKey.Call(prov, uintptr(unsafe.Pointer(&blob[0])), uintptr(len(blob)), 0, 0, uintptr(unsafe.Pointer(&hkey)))
	runtime.KeepAlive(blob)
	if r == 0 {
		windows.CryptReleaseContext(windows.Handle(prov), 0) //nolint:errcheck // failing
		return ProvInfo{}, fmt.Errorf("winseed: CryptImportKey: %w", e)
	}
	procCryptDestroyKey.Call(hkey)                       //nolint:errcheck // the key stays in the container
	windows.CryptReleaseContext(windows.Handle(prov), 0) //nolint:errcheck // done
	return info, s.AddWithProvInfo(cert, info)
}

// ImportPFX imports a PKCS#12 file with PFXImportCertStore(flags) and adds
// its certificates, with the key associations the import made, to the
// store. flags is CRYPT_MACHINE_KEYSET, CRYPT_USER_KEYSET (0x1000) or 0,
// optionally with PKCS12_ALWAYS_CNG_KSP (0x200). It returns each added
// certificate's provider info (zero for a certificate without a key).
//
// Wine 8: the key goes into the provider's default container (named after
// the user), so a second PFX import replaces the first one's key; the
// provider info it records has dwFlags 0 even with CRYPT_MACHINE_KEYSET.
func (s *Store) ImportPFX(pfx []byte, password string, flags uint32) ([]ProvInfo, error) {
	if len(pfx) == 0 {
		return nil, errors.New("winseed: empty PFX")
	}
	pw, err := windows.UTF16PtrFromString(password)
	if err != nil {
		return nil, err
	}
	blob := windows.CryptDataBlob{Size: uint32(len(pfx)), Data: &pfx[0]}
	tmp, err := windows.PFXImportCertStore(&blob, pw, flags)
	runtime.KeepAlive(pfx)
	if err != nil {
		return nil, fmt.Errorf("winseed: PFXImportCertStore: %w", err)
	}
	defer windows.CertCloseStore(tmp, 0) //nolint:errcheck // temporary
	var infos []ProvInfo
	var cc *windows.CertContext
	for {
		cc, err = windows.CertEnumCertificatesInStore(tmp, cc)
		if cc == nil {
			break
		}
		info, _ := provInfo(cc)
		if info.Container != "" && info.ProvType != 0 {
			del := info
			del.Flags |= flags & cryptMachineKS // where the import put it, whatever it recorded
			s.mu.Lock()
			s.containers = append(s.containers, del)
			s.mu.Unlock()
		}
		infos = append(infos, info)
		if err := s.add(cc); err != nil {
			windows.CertFreeCertificateContext(cc) //nolint:errcheck // stop enumerating
			return infos, err
		}
	}
	return infos, nil
}

func acquire(info ProvInfo, flags uint32) (uintptr, error) {
	c, err := windows.UTF16PtrFromString(info.Container)
	if err != nil {
		return 0, err
	}
	p, err := windows.UTF16PtrFromString(info.Provider)
	if err != nil {
		return 0, err
	}
	var prov uintptr
	r, _, e := procCryptAcquireContextW.Call(uintptr(unsafe.Pointer(&prov)), uintptr(unsafe.Pointer(c)), uintptr(unsafe.Pointer(p)),
		uintptr(info.ProvType), uintptr(flags|info.Flags&cryptMachineKS|cryptSilent))
	runtime.KeepAlive(c)
	runtime.KeepAlive(p)
	if r == 0 {
		return 0, fmt.Errorf("winseed: CryptAcquireContext(%q, %#x): %w", info.Container, flags, e)
	}
	return prov, nil
}

func deleteContainer(info ProvInfo) error {
	_, err := acquire(info, cryptDelKeyset)
	return err
}

// cryptKeyProvInfo mirrors CRYPT_KEY_PROV_INFO.
type cryptKeyProvInfo struct {
	ContainerName *uint16
	ProvName      *uint16
	ProvType      uint32
	Flags         uint32
	ProvParam     uint32
	RgProvParam   uintptr
	KeySpec       uint32
}

func setProvInfo(cc *windows.CertContext, info ProvInfo) error {
	c, err := windows.UTF16PtrFromString(info.Container)
	if err != nil {
		return err
	}
	p, err := windows.UTF16PtrFromString(info.Provider)
	if err != nil {
		return err
	}
	ki := cryptKeyProvInfo{ContainerName: c, ProvName: p, ProvType: info.ProvType, Flags: info.Flags, KeySpec: info.KeySpec}
	r, _, e := procCertSetCertificateContextProperty.Call(uintptr(unsafe.Pointer(cc)), keyProvInfoProp, 0, uintptr(unsafe.Pointer(&ki)))
	runtime.KeepAlive(c)
	runtime.KeepAlive(p)
	runtime.KeepAlive(&ki)
	if r == 0 {
		return fmt.Errorf("winseed: CertSetCertificateContextProperty(KEY_PROV_INFO): %w", e)
	}
	return nil
}

// provInfo reads CERT_KEY_PROV_INFO_PROP_ID (ok false when absent).
func provInfo(cc *windows.CertContext) (ProvInfo, bool) {
	var size uint32
	r, _, _ := procCertGetCertificateContextProperty.Call(uintptr(unsafe.Pointer(cc)), keyProvInfoProp, 0, uintptr(unsafe.Pointer(&size)))
	if r == 0 || size < uint32(unsafe.Sizeof(cryptKeyProvInfo{})) {
		return ProvInfo{}, false
	}
	buf := make([]byte, size)
	r, _, _ = procCertGetCertificateContextProperty.Call(uintptr(unsafe.Pointer(cc)), keyProvInfoProp, uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)))
	if r == 0 {
		return ProvInfo{}, false
	}
	ki := (*cryptKeyProvInfo)(unsafe.Pointer(&buf[0]))
	info := ProvInfo{ProvType: ki.ProvType, Flags: ki.Flags, KeySpec: ki.KeySpec}
	if ki.ContainerName != nil {
		info.Container = windows.UTF16PtrToString(ki.ContainerName)
	}
	if ki.ProvName != nil {
		info.Provider = windows.UTF16PtrToString(ki.ProvName)
	}
	runtime.KeepAlive(buf)
	return info, true
}

// privateKeyBlob encodes key as a CryptoAPI PRIVATEKEYBLOB (BLOBHEADER,
// RSAPUBKEY "RSA2", then modulus, primes, exponents, coefficient and the
// private exponent, little-endian).
func privateKeyBlob(key *rsa.PrivateKey) ([]byte, error) {
	if len(key.Primes) != 2 {
		return nil, errors.New("winseed: only two-prime RSA keys")
	}
	key.Precompute()
	bits := key.N.BitLen()
	n8, n16 := (bits+7)/8, (bits+15)/16
	out := []byte{7, 2, 0, 0}                                  // PRIVATEKEYBLOB, CUR_BLOB_VERSION
	out = binary.LittleEndian.AppendUint32(out, 0x0000a400)    // CALG_RSA_KEYX
	out = binary.LittleEndian.AppendUint32(out, 0x32415352)    // "RSA2"
	out = binary.LittleEndian.AppendUint32(out, uint32(bits))  // bitlen
	out = binary.LittleEndian.AppendUint32(out, uint32(key.E)) // pubexp
	le := func(v *big.Int, size int) []byte {
		b := v.FillBytes(make([]byte, size))
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	out = append(out, le(key.N, n8)...)
	out = append(out, le(key.Primes[0], n16)...)
	out = append(out, le(key.Primes[1], n16)...)
	out = append(out, le(key.Precomputed.Dp, n16)...)
	out = append(out, le(key.Precomputed.Dq, n16)...)
	out = append(out, le(key.Precomputed.Qinv, n16)...)
	out = append(out, le(key.D, n8)...)
	return out, nil
}
