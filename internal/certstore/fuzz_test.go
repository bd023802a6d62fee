package certstore

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// fuzzNames are the file names the fuzzer's kind byte selects, so every
// extension-driven branch of the classifier is reachable.
var fuzzNames = []string{"f.pem", "f.cer", "f.der", "f.key", "f.pfx", "f.p12", "f.crt", "f.bin", "f", "f.p7b"}

// FuzzParseFile feeds arbitrary bytes through the file classifier and every
// parser behind it (PEM, DER certificate, DER keys, PKCS#7, PKCS#12, the
// PKCS#12 iteration guard and key salvage), then through assemble.
// Invariants: no panic, every Problem has a source and an error, every
// certificate has a valid thumbprint matching its DER.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), uint8(0))
	f.Add([]byte{0x30, 0x80}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		name := fuzzNames[int(kind)%len(fuzzNames)]
		r := parseFile(name, data, parseOptions{passwords: []string{"pw"}, maxIterations: 4096})
		for _, p := range r.problems {
			if p.Source != name || p.Err == nil || p.Err.Error() == "" {
				t.Fatalf("bad problem %#v", p)
			}
		}
		for _, c := range r.certs {
			if c.cert == nil || !thumbprint.Valid(c.thumb) || c.thumb != thumbprint.OfDER(c.cert.Raw) {
				t.Fatalf("bad cert entry %+v", c)
			}
		}
		for _, k := range r.keys {
			if k.id == "" {
				t.Fatal("key without public key id")
			}
		}
		certs, probs := assemble([]fileResult{r})
		if len(probs) != len(r.problems) {
			t.Fatalf("assemble dropped problems")
		}
		for _, c := range certs {
			if c.Source != name || c.Key < KeyUnknown || c.Key > KeyUnusable {
				t.Fatalf("bad certificate %+v", c)
			}
			if c.Key == KeyUsable && !c.HasPrivateKey {
				t.Fatal("usable key without HasPrivateKey")
			}
		}
	})
}

// pkcs7Bundle builds a certs-only PKCS#7 SignedData (.p7b) for tests.
func pkcs7Bundle(tb testing.TB, certs ...*x509.Certificate) []byte {
	tb.Helper()
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	sd, err := asn1.Marshal(struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      struct{ Type asn1.ObjectIdentifier }
		Certificates     asn1.RawValue
		SignerInfos      asn1.RawValue
	}{
		Version:          1,
		DigestAlgorithms: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
		ContentInfo:      struct{ Type asn1.ObjectIdentifier }{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		SignerInfos:      asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ci, err := asn1.Marshal(struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue
	}{oidSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
	if err != nil {
		tb.Fatal(err)
	}
	return ci
}

func TestPKCS7Bundle(t *testing.T) {
	dir := tempdir.New(t)
	ca := certstoretest.NewCA(t)
	leaf := ca.Issue(t, "p7.contoso.com", &certstoretest.NewECKey(t).PublicKey)
	p7 := pkcs7Bundle(t, leaf, ca.Cert)
	certstoretest.WriteFile(t, dir, "chain.p7b", p7)
	certstoretest.WriteFile(t, dir, "chain-pem.p7b", pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7}))
	inv := readDir(t, dir, Options{})
	if len(inv.Problems) != 0 || len(inv.Certificates) != 2 {
		t.Fatalf("certs=%d problems=%v", len(inv.Certificates), inv.Problems)
	}
	if got := findCert(t, inv, leaf); len(got.Sources) != 2 {
		t.Errorf("sources %v", got.Sources)
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzParseFile when
// CERTSTORE_WRITE_FUZZ_CORPUS=1. The committed files are the seed corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("CERTSTORE_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set CERTSTORE_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	ca := certstoretest.NewCA(t)
	k := certstoretest.NewECKey(t)
	leaf := ca.Issue(t, "fuzz.contoso.com", &k.PublicKey)
	rsaKey := certstoretest.NewRSAKey(t)
	pfxPW, err := pkcs12.Modern.Encode(k, leaf, []*x509.Certificate{ca.Cert}, "pw")
	if err != nil {
		t.Fatal(err)
	}
	pfxEmpty, err := pkcs12.LegacyDES.Encode(rsaKey, ca.Issue(t, "rsa.contoso.com", &rsaKey.PublicKey), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(k)
	full := certstoretest.Concat(certstoretest.CertPEM(leaf), certstoretest.PKCS8PEM(t, k))
	seeds := []struct {
		name string
		data []byte
		kind uint8 // index into fuzzNames
	}{
		{"pem_cert", certstoretest.CertPEM(leaf), 0},
		{"pem_cert_and_key", full, 0},
		{"pem_truncated", full[:len(full)/2], 0},
		{"pem_ec_key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), 3},
		{"pem_rsa_key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 3},
		{"pem_encrypted_key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1, 2, 3}}), 3},
		{"der_cert", leaf.Raw, 1},
		{"der_cert_truncated", leaf.Raw[:len(leaf.Raw)-17], 1},
		{"der_key", ecDER, 3},
		{"pfx_password_pw", pfxPW, 4},
		{"pfx_empty_password", pfxEmpty, 5},
		{"pfx_truncated", pfxPW[:len(pfxPW)/3], 4},
		{"p7b", pkcs7Bundle(t, leaf, ca.Cert), 9},
		{"garbage", []byte("\x00\xffMZ this is not a certificate \x30\x82"), 6},
		{"garbage_der_like", []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x03}, 4},
		{"empty", nil, 6},
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseFile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint8(%d)\n", strconv.Quote(string(s.data)), s.kind)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
