package certstore

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// Schemes of store locations (Contents.Location, Certificate.Source):
// "pemdir:PATH", "snapshot:FILE", `windows:LocalMachine\My`. Package
// internal/agent/certread opens stores by such a URI.
const (
	SchemePEMDir   = "pemdir"
	SchemeSnapshot = "snapshot"
	SchemeWindows  = "windows"
)

// KeyStatus says whether a certificate's private key can actually be used.
type KeyStatus int

const (
	// KeyUnknown: the backend cannot tell (e.g. a snapshot that did not record it).
	KeyUnknown KeyStatus = iota
	// KeyAbsent: no private key is associated with the certificate.
	KeyAbsent
	// KeyUsable: a private key is present and could be acquired/parsed.
	KeyUsable
	// KeyUnusable: a key is referenced but cannot be acquired (corrupt file,
	// missing key container, access denied, wrong PFX password...).
	KeyUnusable
)

// MarshalText implements encoding.TextMarshaler ("unknown", "absent",
// "usable", "unusable").
func (k KeyStatus) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; see ParseKeyStatus.
func (k *KeyStatus) UnmarshalText(b []byte) error {
	v, err := ParseKeyStatus(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

func (k KeyStatus) String() string {
	switch k {
	case KeyAbsent:
		return "absent"
	case KeyUsable:
		return "usable"
	case KeyUnusable:
		return "unusable"
	default:
		return "unknown"
	}
}

// Certificate is one entry of a certificate store as mxprobe sees it.
type Certificate struct {
	// Thumbprint is the SHA-1 of the DER encoding, upper-case hex, no separators,
	// exactly as Windows and Exchange show it.
	Thumbprint string
	// Cert is the parsed certificate; Raw bytes are Cert.Raw.
	Cert *x509.Certificate
	// HasPrivateKey is true when the store associates a private key with the
	// certificate (Windows: CERT_KEY_PROV_INFO_PROP_ID present; pemdir: a key
	// file whose public key matches).
	HasPrivateKey bool
	// Key tells whether that key can be acquired and used.
	Key KeyStatus
	// KeyDetail explains a KeyUnusable/KeyUnknown status in one line (never secrets).
	KeyDetail string
	// TransportCanReadKey is nil when unknown; otherwise whether the Exchange
	// transport account (NETWORK SERVICE) may read the key per its ACL.
	TransportCanReadKey *bool
	// Source is where the entry came from: a file path, or a store location.
	// When the same certificate was found in several places it is the first
	// of Sources.
	Source string
	// Sources lists every place the same certificate (identical DER) was
	// found, sorted. Backends that read a single store set it to
	// []string{Source}.
	Sources []string
	// KeySource names where the private key was found (a file path for
	// pemdir, the provider/container for windows) when HasPrivateKey is true
	// and the backend knows it. Never secret material.
	KeySource string
	// FriendlyName is the store's friendly name, if any.
	FriendlyName string
	// Services lists the Exchange services the certificate is bound to, when known
	// (e.g. "SMTP", "IIS").
	Services []string
}

// Problem is an entry of a store that could not be read (corrupt file, wrong
// password, truncated DER). Problems never abort a scan.
type Problem struct {
	Source string
	Err    error
}

// String renders the problem as "source: error".
func (p Problem) String() string {
	if p.Err == nil {
		return p.Source
	}
	return p.Source + ": " + p.Err.Error()
}

// Unwrap exposes the underlying error so errors.Is works on a Problem value
// used as an error via ProblemError.
func (p Problem) Unwrap() error { return p.Err }

// Contents is the result of reading a store.
type Contents struct {
	// Location names the store, e.g. "pemdir:/etc/ssl/mx" or `windows:LocalMachine\My`.
	Location string
	// ReadAt is when the store was read (for a snapshot: when it was
	// captured, not when the file was loaded).
	ReadAt time.Time
	// Snapshot is the snapshot file the inventory was loaded from; empty
	// for a live store.
	Snapshot string
	// Examined is how many entries the backend looked at (pemdir: files;
	// snapshot: certificate records), 0 when it does not count them.
	Examined     int
	Certificates []Certificate
	Problems     []Problem
}

// Store is a readable certificate store. Implementations must be safe to call
// repeatedly and must honour ctx for cancellation.
type Store interface {
	Read(ctx context.Context) (Contents, error)
}

// ParseKeyStatus parses the String form of a KeyStatus ("unknown",
// "absent", "usable", "unusable"), case-insensitively. The empty string is
// KeyUnknown.
func ParseKeyStatus(s string) (KeyStatus, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "unknown":
		return KeyUnknown, nil
	case "absent":
		return KeyAbsent, nil
	case "usable":
		return KeyUsable, nil
	case "unusable":
		return KeyUnusable, nil
	}
	return KeyUnknown, fmt.Errorf("certstore: unknown key status %q", s)
}
