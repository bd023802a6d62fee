package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/identity"
)

func csrFor(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignVerifyIdentity(t *testing.T) {
	ca, err := Generate("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	chain, err := ca.Sign(csrFor(t, key), identity.Identity{AgentID: "edge01", Site: "amsterdam-1"}, 10*time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(chain[0])
	id, err := ca.Verify([]*x509.Certificate{leaf}, now)
	if err != nil || id.AgentID != "edge01" || id.Site != "amsterdam-1" {
		t.Fatalf("Verify = %+v, %v", id, err)
	}
	if d := id.IssuedAt.Sub(now); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("issue time from serial %v, want %v", id.IssuedAt, now)
	}
	if _, err := ca.Verify([]*x509.Certificate{leaf}, now.Add(time.Hour)); !errors.Is(err, ErrNotAgentCA) {
		t.Fatalf("expired certificate verified: %v", err)
	}
	other, _ := Generate("other", time.Hour)
	if _, err := other.Verify([]*x509.Certificate{leaf}, now); !errors.Is(err, ErrNotAgentCA) {
		t.Fatalf("another CA verified it: %v", err)
	}
}

func TestSignRefusesBadInput(t *testing.T) {
	ca, _ := Generate("test", time.Hour)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := csrFor(t, ec)
	for name, c := range map[string]struct {
		csr  []byte
		id   identity.Identity
		want error
	}{
		"garbage CSR":        {[]byte("not a csr"), identity.Identity{AgentID: "a", Site: "s"}, ErrBadCSR},
		"tampered signature": {append(append([]byte{}, good[:len(good)-2]...), 0, 0), identity.Identity{AgentID: "a", Site: "s"}, ErrBadCSR},
		"weak RSA key":       {csrFor(t, weak), identity.Identity{AgentID: "a", Site: "s"}, ErrWeakKey},
		"id with slash":      {good, identity.Identity{AgentID: "a/../b", Site: "s"}, ErrBadIdentity},
		"empty site":         {good, identity.Identity{AgentID: "a"}, ErrBadIdentity},
	} {
		if _, err := ca.Sign(c.csr, c.id, time.Hour, time.Now()); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
