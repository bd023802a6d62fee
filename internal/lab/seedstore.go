package lab

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SeedEntry is one certificate of a seed store.
type SeedEntry struct {
	Cert       *x509.Certificate
	Thumbprint string // SHA-1 of DER, upper-case hex
	CertFile   string // absolute path
	KeyFile    string // absolute path; empty when the store holds no key
}

// SeedStore describes the certificate store written by WriteSeedStore.
type SeedStore struct {
	Dir string
	// Good is the CA-issued CN=<hostname> certificate with its key.
	Good SeedEntry
	// KeylessDuplicate has Good's issuer and subject, a newer NotBefore, and
	// no key anywhere in the store: the certificate transport picked in the
	// seed incident ("TLS negotiation failed with error NoCredentials").
	KeylessDuplicate SeedEntry
	// Expired is an older CN=<hostname> certificate (subject O differs, so it
	// does not match Good's subject DN) that expired 30 days ago; its key is
	// present.
	Expired SeedEntry
}

// seed store file names: they say what a file holds, never which key goes
// with which certificate (pairing is by public key).
const (
	seedCertA = "cert-a.pem" // expired
	seedCertB = "cert-b.pem" // good
	seedCertC = "cert-c.pem" // keyless duplicate
	seedKey1  = "key-1.pem"  // good's key
	seedKey2  = "key-2.pem"  // expired's key
)

// WriteSeedStore writes into dir (created if needed) a PEM directory that
// reproduces the seed incident's LocalMachine\My: a good CA-issued
// certificate for hostname with its PKCS#8 key, a second certificate with the
// same issuer and subject and a newer NotBefore but no key, and an expired
// certificate with its key. The CA itself is not written.
func WriteSeedStore(dir string, ca *CA, hostname string) (SeedStore, error) {
	if ca == nil {
		return SeedStore{}, fmt.Errorf("lab: seed store: nil CA")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return SeedStore{}, fmt.Errorf("lab: seed store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return SeedStore{}, fmt.Errorf("lab: seed store: %w", err)
	}
	now := time.Now()
	org := []string{"mxprobe lab"}
	good, err := ca.Issue(IssueOptions{CommonName: hostname, Organization: org,
		NotBefore: now.AddDate(0, 0, -30), NotAfter: now.AddDate(1, 0, -30), ServerAuth: true, ClientAuth: true})
	if err != nil {
		return SeedStore{}, err
	}
	dup, err := ca.Issue(IssueOptions{CommonName: hostname, Organization: org,
		NotBefore: now.AddDate(0, 0, -2), NotAfter: now.AddDate(1, 0, -2), ServerAuth: true, ClientAuth: true})
	if err != nil {
		return SeedStore{}, err
	}
	expired, err := ca.Issue(IssueOptions{CommonName: hostname, Organization: []string{"mxprobe lab 2018"},
		NotBefore: now.AddDate(-1, 0, -30), NotAfter: now.AddDate(0, 0, -30), ServerAuth: true, ClientAuth: true})
	if err != nil {
		return SeedStore{}, err
	}
	st := SeedStore{Dir: dir}
	if st.Good, err = writeEntry(dir, good, seedCertB, seedKey1); err != nil {
		return SeedStore{}, err
	}
	if st.KeylessDuplicate, err = writeEntry(dir, dup, seedCertC, ""); err != nil {
		return SeedStore{}, err
	}
	if st.Expired, err = writeEntry(dir, expired, seedCertA, seedKey2); err != nil {
		return SeedStore{}, err
	}
	return st, nil
}

func writeEntry(dir string, is *Issued, certName, keyName string) (SeedEntry, error) {
	e := SeedEntry{Cert: is.Cert, Thumbprint: is.Thumbprint(), CertFile: filepath.Join(dir, certName)}
	if err := os.WriteFile(e.CertFile, is.CertPEM(), 0o644); err != nil {
		return SeedEntry{}, fmt.Errorf("lab: seed store: %w", err)
	}
	if keyName == "" {
		return e, nil
	}
	kp, err := is.KeyPEM()
	if err != nil {
		return SeedEntry{}, err
	}
	e.KeyFile = filepath.Join(dir, keyName)
	if err := os.WriteFile(e.KeyFile, kp, 0o600); err != nil {
		return SeedEntry{}, fmt.Errorf("lab: seed store: %w", err)
	}
	return e, nil
}
