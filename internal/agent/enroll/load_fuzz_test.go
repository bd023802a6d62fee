package enroll

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func keyAndCert(tb testing.TB) (keyPEM, certPEM []byte) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge01"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	crt, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt})
}

// The stored pair loads; a certificate of another key is ErrKeyMismatch.
func TestLoadRefusesAMismatchedPair(t *testing.T) {
	key, cert := keyAndCert(t)
	_, other := keyAndCert(t)
	for _, c := range []struct {
		name string
		cert []byte
		want error
	}{{"matching", cert, nil}, {"another key's certificate", other, ErrKeyMismatch}} {
		dir := tempdir.New(t)
		if err := os.WriteFile(filepath.Join(dir, keyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, certFile), c.cert, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzLoad: whatever agent.key and agent.crt hold (a truncated write, a
// file from another host, junk), Load refuses them or returns credentials
// whose certificate is for the key; it never replaces an existing key.
func FuzzLoad(f *testing.F) {
	key, cert := keyAndCert(f)
	_, other := keyAndCert(f)
	f.Add(key, cert)
	f.Add(key, other)
	f.Add(key[:len(key)/2], cert)
	f.Add(key, cert[:len(cert)-30])
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), []byte{})
	f.Add([]byte{}, append(append([]byte{}, cert...), other...))
	f.Fuzz(func(t *testing.T, keyData, certData []byte) {
		dir := tempdir.New(t)
		kp := filepath.Join(dir, keyFile)
		if err := os.WriteFile(kp, keyData, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, certFile), certData, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(dir)
		if after, rerr := os.ReadFile(kp); rerr != nil || string(after) != string(keyData) {
			t.Fatal("Load changed agent.key")
		}
		if err != nil {
			return
		}
		blk, _ := pem.Decode(keyData)
		k, perr := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if perr != nil {
			t.Fatalf("loaded an unparsable key: %v", perr)
		}
		pub, ok := c.Leaf().PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(k.(crypto.Signer).Public()) {
			t.Fatal("loaded a certificate that is not for the key")
		}
		if len(c.crt.Certificate) != 1 {
			t.Fatalf("%d certificates on the wire", len(c.crt.Certificate))
		}
	})
}
