package certread

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// This file holds everything about signing with a key that lives in a
// platform key store (Windows CNG) that is not a syscall: how a Go
// crypto.SignerOpts maps to NCryptSignHash padding, and how NCrypt's
// signature format maps back to what crypto/tls expects. It has no build
// tag and is unit-tested on Linux; winsigner_windows.go only moves bytes.

// Sentinel errors of store-backed signers.
var (
	// ErrSignerClosed: Sign was called after Close.
	ErrSignerClosed = errors.New("certread: store signer is closed")
	// ErrSignUnsupported: the signer cannot produce the requested signature
	// (hash, padding or key type NCrypt is not asked to handle).
	ErrSignUnsupported = errors.New("certread: unsupported signature request")
	// ErrLegacyCSPKey: the certificate's key lives in a legacy CryptoAPI CSP
	// that CNG cannot open; the probe cannot sign with it.
	ErrLegacyCSPKey = errors.New("certread: key is held by a legacy CryptoAPI CSP, not CNG")
	// ErrCertNotInStore: no certificate with the thumbprint is in the store.
	ErrCertNotInStore = errors.New("certread: certificate not found in store")
	// ErrKeyMismatch: the store key does not produce signatures the
	// certificate's public key verifies.
	ErrKeyMismatch = errors.New("certread: private key does not match the certificate")
)

// Padding is the NCryptSignHash padding scheme (its dwFlags).
type Padding int

const (
	// PaddingNone: no padding info (ECDSA); the signature is P1363 r||s.
	PaddingNone Padding = iota
	// PaddingPKCS1: BCRYPT_PAD_PKCS1 with BCRYPT_PKCS1_PADDING_INFO.
	PaddingPKCS1
	// PaddingPSS: BCRYPT_PAD_PSS with BCRYPT_PSS_PADDING_INFO.
	PaddingPSS
)

func (p Padding) String() string {
	switch p {
	case PaddingNone:
		return "none"
	case PaddingPKCS1:
		return "PKCS1"
	case PaddingPSS:
		return "PSS"
	}
	return fmt.Sprintf("Padding(%d)", int(p))
}

// SignParams is one NCryptSignHash request, derived from a crypto.Signer
// call by ParamsFor.
type SignParams struct {
	Padding Padding
	// AlgID is the BCRYPT hash algorithm identifier put in the padding info
	// ("SHA256", ...). Empty with PaddingPKCS1 means pszAlgId = NULL: the
	// digest is padded without a DigestInfo prefix (crypto.MD5SHA1 in TLS
	// 1.0/1.1, or hash 0). Always empty with PaddingNone.
	AlgID string
	// SaltLen is BCRYPT_PSS_PADDING_INFO.cbSalt (PaddingPSS only).
	SaltLen int
	// Hash is the hash the digest was computed with (0: unspecified).
	Hash crypto.Hash
	// SigLen is the expected signature length: the RSA modulus size, or
	// 2*len(coordinate) for ECDSA (NCrypt returns r||s).
	SigLen int
	// CoordLen is the ECDSA coordinate length in bytes (0 for RSA).
	CoordLen int
}

// bcryptAlgIDs maps the hashes NCrypt signs to their BCRYPT_*_ALGORITHM
// names.
var bcryptAlgIDs = map[crypto.Hash]string{
	crypto.MD5:    "MD5",    // BCRYPT_MD5_ALGORITHM
	crypto.SHA1:   "SHA1",   // BCRYPT_SHA1_ALGORITHM
	crypto.SHA256: "SHA256", // BCRYPT_SHA256_ALGORITHM
	crypto.SHA384: "SHA384", // BCRYPT_SHA384_ALGORITHM
	crypto.SHA512: "SHA512", // BCRYPT_SHA512_ALGORITHM
}

// BCryptAlgID returns the BCRYPT algorithm identifier of h.
func BCryptAlgID(h crypto.Hash) (string, error) {
	if id, ok := bcryptAlgIDs[h]; ok {
		return id, nil
	}
	return "", fmt.Errorf("%w: hash %v has no NCrypt algorithm identifier", ErrSignUnsupported, h)
}

// hashFromAlgID is the inverse of BCryptAlgID (used by tests' fake NCrypt).
func hashFromAlgID(id string) (crypto.Hash, bool) {
	for h, s := range bcryptAlgIDs {
		if s == id {
			return h, true
		}
	}
	return 0, false
}

// ParamsFor maps a crypto.Signer request (pub is the signer's public key)
// to NCryptSignHash parameters, validating the digest length:
//
//   - RSA with *rsa.PSSOptions: PSS, cbSalt from SaltLength
//     (rsa.PSSSaltLengthEqualsHash, what crypto/tls uses, is the hash size;
//     rsa.PSSSaltLengthAuto is the maximum, as crypto/rsa signs it).
//   - RSA otherwise: PKCS#1 v1.5 with the hash's DigestInfo; crypto.MD5SHA1
//     (TLS 1.0/1.1) and hash 0 sign the bare digest (pszAlgId = NULL).
//   - ECDSA: no padding; the caller converts NCrypt's r||s to ASN.1.
func ParamsFor(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) (SignParams, error) {
	if opts == nil {
		return SignParams{}, fmt.Errorf("%w: nil SignerOpts", ErrSignUnsupported)
	}
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return SignParams{}, fmt.Errorf("%w: digest is %d bytes, %v needs %d", ErrSignUnsupported, len(digest), h, h.Size())
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return SignParams{}, fmt.Errorf("%w: empty RSA public key", ErrSignUnsupported)
		}
		p := SignParams{Hash: h, SigLen: (k.N.BitLen() + 7) / 8}
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if h == 0 || h == crypto.MD5SHA1 {
				return SignParams{}, fmt.Errorf("%w: RSA-PSS needs a hash, got %v", ErrSignUnsupported, h)
			}
			id, err := BCryptAlgID(h)
			if err != nil {
				return SignParams{}, err
			}
			salt, err := PSSSaltLength(k, h, pss.SaltLength)
			if err != nil {
				return SignParams{}, err
			}
			p.Padding, p.AlgID, p.SaltLen = PaddingPSS, id, salt
			return p, nil
		}
		p.Padding = PaddingPKCS1
		if h == 0 || h == crypto.MD5SHA1 {
			if len(digest) == 0 || len(digest) > p.SigLen-11 {
				return SignParams{}, fmt.Errorf("%w: %d-byte digest for a %d-byte RSA key", ErrSignUnsupported, len(digest), p.SigLen)
			}
			return p, nil
		}
		id, err := BCryptAlgID(h)
		if err != nil {
			return SignParams{}, err
		}
		p.AlgID = id
		return p, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return SignParams{}, fmt.Errorf("%w: empty ECDSA public key", ErrSignUnsupported)
		}
		if _, ok := opts.(*rsa.PSSOptions); ok {
			return SignParams{}, fmt.Errorf("%w: PSS options for an ECDSA key", ErrSignUnsupported)
		}
		if len(digest) == 0 {
			return SignParams{}, fmt.Errorf("%w: empty digest", ErrSignUnsupported)
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		return SignParams{Padding: PaddingNone, Hash: h, SigLen: 2 * n, CoordLen: n}, nil
	}
	return SignParams{}, fmt.Errorf("%w: key type %T (only RSA and ECDSA keys are signed through NCrypt)", ErrSignUnsupported, pub)
}

// PSSSaltLength turns an rsa.PSSOptions.SaltLength into the explicit salt
// length NCrypt needs, by crypto/rsa's rules for signing.
func PSSSaltLength(pub *rsa.PublicKey, h crypto.Hash, saltLength int) (int, error) {
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	maxSalt := emLen - 2 - h.Size()
	switch {
	case saltLength == rsa.PSSSaltLengthEqualsHash:
		saltLength = h.Size()
	case saltLength == rsa.PSSSaltLengthAuto:
		saltLength = maxSalt
	case saltLength < 0:
		return 0, fmt.Errorf("%w: PSS salt length %d", ErrSignUnsupported, saltLength)
	}
	if saltLength > maxSalt || maxSalt < 0 {
		return 0, fmt.Errorf("%w: PSS salt of %d bytes does not fit a %d-bit key with %v", ErrSignUnsupported, saltLength, pub.N.BitLen(), h)
	}
	return saltLength, nil
}

// P1363ToASN1 converts an IEEE P1363 ECDSA signature (r||s, each
// coordLen bytes, what NCrypt returns) to the ASN.1 DER
// SEQUENCE { r INTEGER, s INTEGER } that crypto/tls and x509 expect.
func P1363ToASN1(sig []byte, coordLen int) ([]byte, error) {
	if coordLen <= 0 || len(sig) != 2*coordLen {
		return nil, fmt.Errorf("certread: ECDSA signature is %d bytes, want %d", len(sig), 2*coordLen)
	}
	r := new(big.Int).SetBytes(sig[:coordLen])
	s := new(big.Int).SetBytes(sig[coordLen:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, errors.New("certread: ECDSA signature has a zero component")
	}
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

// parseStoreCert parses the DER a store returned for a thumbprint lookup
// and checks it really has that thumbprint.
func parseStoreCert(der []byte, tp string) (*x509.Certificate, error) {
	if got, want := thumbprint.OfDER(der), thumbprint.Normalize(tp); got != want {
		return nil, fmt.Errorf("%w: store returned certificate %s for %s", ErrThumbprintMismatch, got, want)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", certstore.ErrMalformed, err)
	}
	return cert, nil
}

// legacyCSPHint says what to do about ErrLegacyCSPKey.
const legacyCSPHint = "the probe signs through CNG only; a key in a third-party or hardware CryptoAPI CSP " +
	"cannot be presented (re-import the PFX into the Microsoft Software Key Storage Provider, " +
	"or export the certificate with its key to a pemdir: store for the probe)"

// hashSigner is the platform part of a StoreSigner: NCryptSignHash on a
// held key handle, and releasing everything.
type hashSigner interface {
	// signHash returns the raw NCrypt signature: big-endian RSA, or P1363
	// r||s for ECDSA.
	signHash(p SignParams, digest []byte) ([]byte, error)
	// close frees the key, certificate context and store handles.
	close() error
}

// StoreSigner is a crypto.Signer whose private key stays in the platform
// key store (Windows CNG). It holds OS handles until Close; there is no
// finalizer, so callers must Close it. Sign and Close are safe for
// concurrent use (signatures are serialised: not every key storage
// provider is thread-safe on one handle).
type StoreSigner struct {
	cert *x509.Certificate
	desc string // e.g. `windows:LocalMachine\My 0123...` for errors

	mu   sync.Mutex
	impl hashSigner // nil once closed
}

func newStoreSigner(cert *x509.Certificate, desc string, impl hashSigner) *StoreSigner {
	return &StoreSigner{cert: cert, desc: desc, impl: impl}
}

// Public returns the certificate's public key.
func (s *StoreSigner) Public() crypto.PublicKey { return s.cert.PublicKey }

// Certificate returns the store's certificate the key belongs to.
func (s *StoreSigner) Certificate() *x509.Certificate { return s.cert }

// Sign signs digest with the store key; rand is ignored (the key storage
// provider uses its own RNG). ECDSA signatures are returned ASN.1 encoded.
func (s *StoreSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	p, err := ParamsFor(s.cert.PublicKey, digest, opts)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.impl == nil {
		return nil, fmt.Errorf("%w: %s", ErrSignerClosed, s.desc)
	}
	sig, err := s.impl.signHash(p, digest)
	if err != nil {
		return nil, fmt.Errorf("certread: signing with %s (%s): %w", s.desc, p.Padding, err)
	}
	if p.Padding != PaddingNone {
		if len(sig) != p.SigLen {
			return nil, fmt.Errorf("certread: signing with %s: %d-byte RSA signature, want %d", s.desc, len(sig), p.SigLen)
		}
		return sig, nil
	}
	der, err := P1363ToASN1(sig, p.CoordLen)
	if err != nil {
		return nil, fmt.Errorf("certread: signing with %s: %w", s.desc, err)
	}
	return der, nil
}

// Close releases the key and store handles. It is idempotent; Sign after
// Close returns ErrSignerClosed.
func (s *StoreSigner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.impl == nil {
		return nil
	}
	err := s.impl.close()
	s.impl = nil
	return err
}

// VerifyKeyPair signs a fixed test digest with s (PKCS#1 v1.5 SHA-256 for
// RSA, ECDSA SHA-256) and verifies it with pub, so a store key that is
// associated with the wrong certificate, or a signing path that produces
// malformed signatures, fails before a handshake does. The error wraps
// ErrKeyMismatch when the signature does not verify.
func VerifyKeyPair(s crypto.Signer, pub crypto.PublicKey) error {
	digest := sha256.Sum256([]byte("mxprobe store key self-test"))
	sig, err := s.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("certread: test signature: %w", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return fmt.Errorf("%w: RSA test signature does not verify: %v", ErrKeyMismatch, err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest[:], sig) {
			return fmt.Errorf("%w: ECDSA test signature does not verify", ErrKeyMismatch)
		}
	default:
		return fmt.Errorf("%w: key type %T", ErrSignUnsupported, pub)
	}
	return nil
}
