package certstore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// ReadFiles pairs a key file with its certificate across files, and
// reports a lone DER certificate as keyless.
func TestReadFilesPairsKeys(t *testing.T) {
	ca := certstoretest.NewCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ca.Issue(t, "mail.contoso.com", &key.PublicKey)
	dir := tempdir.New(t)
	cer := filepath.Join(dir, "mail.cer")
	if err := os.WriteFile(cer, leaf.Raw, 0o600); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	kf := filepath.Join(dir, "mail.key")
	if err := os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	alone, err := ReadFiles(context.Background(), []string{cer}, Options{})
	if err != nil || len(alone.Certificates) != 1 || alone.Certificates[0].HasPrivateKey {
		t.Fatalf("lone .cer: %+v %v", alone, err)
	}
	both, err := ReadFiles(context.Background(), []string{cer, kf}, Options{})
	if err != nil || len(both.Certificates) != 1 || both.Certificates[0].Key != KeyUsable {
		t.Fatalf(".cer + key: %+v %v", both, err)
	}
	missing, err := ReadFiles(context.Background(), []string{filepath.Join(dir, "none.pfx")}, Options{})
	if err != nil || len(missing.Certificates) != 0 || len(missing.Problems) != 1 {
		t.Fatalf("missing file: %+v %v", missing, err)
	}
}
