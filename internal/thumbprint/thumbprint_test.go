package thumbprint

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // test of the SHA-1 thumbprint
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestOfMatchesSHA1OfDER(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mail.contoso.com"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der) //nolint:gosec // test
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := Of(c); got != want || OfDER(der) != want || !Valid(got) {
		t.Fatalf("Of = %s, want %s", got, want)
	}
}

func TestNormalizeAndParse(t *testing.T) {
	const tp = "B79D1F2E3A4B5C6D7E8F90A1B2C3D4E5F6A7B8C9"
	for _, in := range []string{
		tp, strings.ToLower(tp), "b7 9d 1f 2e 3a 4b 5c 6d 7e 8f 90 a1 b2 c3 d4 e5 f6 a7 b8 c9",
		"B7:9D:1F:2E:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4:E5:F6:A7:B8:C9", "\u200e" + tp, "\ufeff" + tp + "\r\n",
		"B7-9D-1F-2E-3A-4B-5C-6D-7E-8F-90-A1-B2-C3-D4-E5-F6-A7-B8-C9",
	} {
		got, err := Parse(in)
		if err != nil || got != tp {
			t.Errorf("Parse(%q) = %q, %v", in, got, err)
		}
		if !Equal(in, tp) {
			t.Errorf("Equal(%q, tp) = false", in)
		}
	}
	for _, bad := range []string{"", "B79D", tp + "00", strings.Replace(tp, "B", "G", 1)} {
		if _, err := Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err %v, want ErrInvalid", bad, err)
		}
	}
	if Equal("", "") {
		t.Error("two empty thumbprints are not equal certificates")
	}
	b, err := Bytes(strings.ToLower(tp))
	if err != nil || len(b) != 20 || b[0] != 0xB7 {
		t.Fatalf("Bytes = %x, %v", b, err)
	}
}
