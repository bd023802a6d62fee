package lab_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

func TestWriteSeedStore(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	st, err := lab.WriteSeedStore(dir, ca, "edge01.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	good, dup, exp := st.Good, st.KeylessDuplicate, st.Expired

	// Thumbprints: 40 upper-case hex digits, distinct, matching the files.
	seen := map[string]bool{}
	for _, e := range []lab.SeedEntry{good, dup, exp} {
		if len(e.Thumbprint) != 40 || strings.ToUpper(e.Thumbprint) != e.Thumbprint || seen[e.Thumbprint] {
			t.Errorf("thumbprint %q", e.Thumbprint)
		}
		seen[e.Thumbprint] = true
		if got := thumbprint.Of(readCert(t, e.CertFile)); got != e.Thumbprint {
			t.Errorf("%s holds %s, want %s", e.CertFile, got, e.Thumbprint)
		}
	}

	// The incident: same issuer and subject, the keyless one newer.
	if !bytes.Equal(good.Cert.RawSubject, dup.Cert.RawSubject) || !bytes.Equal(good.Cert.RawIssuer, dup.Cert.RawIssuer) {
		t.Error("duplicate does not share issuer and subject")
	}
	if !dup.Cert.NotBefore.After(good.Cert.NotBefore) {
		t.Error("duplicate is not newer")
	}
	if bytes.Equal(exp.Cert.RawSubject, good.Cert.RawSubject) || !time.Now().After(exp.Cert.NotAfter) {
		t.Error("expired entry: same subject or not expired")
	}
	for _, e := range []lab.SeedEntry{good, dup, exp} {
		if e.Cert.Subject.CommonName != "edge01.contoso.com" {
			t.Errorf("CN %q", e.Cert.Subject.CommonName)
		}
		if _, err := e.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: e.Cert.NotBefore.Add(time.Hour)}); err != nil {
			t.Errorf("not issued by the CA: %v", err)
		}
	}

	// Keys: found by public key, exactly good's and expired's; none for dup.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var keys []crypto.PublicKey
	for _, de := range entries {
		name := de.Name()
		for tp := range seen {
			if strings.Contains(strings.ToUpper(name), tp[:8]) {
				t.Errorf("file name %q reveals thumbprint", name)
			}
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		blk, _ := pem.Decode(b)
		if blk != nil && blk.Type == "PRIVATE KEY" {
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k.(crypto.Signer).Public())
		}
	}
	if len(entries) != 5 || len(keys) != 2 {
		t.Fatalf("%d files, %d keys", len(entries), len(keys))
	}
	has := func(c *x509.Certificate) bool {
		for _, k := range keys {
			if k.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
				return true
			}
		}
		return false
	}
	if !has(good.Cert) || !has(exp.Cert) || has(dup.Cert) {
		t.Errorf("key presence good=%v expired=%v dup=%v", has(good.Cert), has(exp.Cert), has(dup.Cert))
	}
	if dup.KeyFile != "" || good.KeyFile == "" || exp.KeyFile == "" {
		t.Error("KeyFile fields")
	}
	// Pairing by file order must not work: the first cert file is not good's.
	if filepath.Base(good.CertFile) == "cert-a.pem" {
		t.Error("file order pairs cert and key")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
