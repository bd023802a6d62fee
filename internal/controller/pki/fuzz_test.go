package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/identity"
)

// fuzzNow is one instant for every run, inside the CAs the targets generate.
var fuzzNow = time.Now()

func csrDER(tb testing.TB, key any, cn string) []byte {
	tb.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// FuzzSign: an enrollment request's CSR (bytes from the network) and the
// identity it asks for never crash the CA; what it signs is a client
// certificate this CA verifies, naming exactly that identity, for the
// CSR's own key.
func FuzzSign(f *testing.F) {
	ca, err := Generate("fuzz agent CA", 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := csrDER(f, ec, "edge01")
	f.Add(good, "edge01", "amsterdam")
	f.Add(csrDER(f, ed, "x"), "a.b_c-d", "S")
	f.Add(csrDER(f, ec224, "weak"), "edge02", "london")
	f.Add(csrDER(f, weak, "weak"), "edge03", "london")
	f.Add(good, "edge01/../admin", "amsterdam")
	f.Add(good[:len(good)-3], "edge01", "amsterdam")
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	f.Add(tampered, "edge01", "amsterdam")
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, "", "")
	f.Fuzz(func(t *testing.T, der []byte, agentID, site string) {
		chain, err := ca.Sign(der, identity.Identity{AgentID: agentID, Site: site}, time.Hour, fuzzNow.Add(-time.Minute))
		if err != nil {
			return
		}
		if !identity.ValidID(agentID) || !identity.ValidID(site) {
			t.Fatalf("signed for invalid identity %q / %q", agentID, site)
		}
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			t.Fatal(err)
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil || csr.CheckSignature() != nil {
			t.Fatalf("signed a CSR that does not verify: %v", err)
		}
		if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(csr.PublicKey) {
			t.Fatal("the certificate is not for the CSR's key")
		}
		got, err := ca.Verify([]*x509.Certificate{leaf}, fuzzNow)
		if err != nil || got.AgentID != agentID || got.Site != site {
			t.Fatalf("issued certificate verifies as %+v, %v; want %q / %q", got, err, agentID, site)
		}
	})
}

// FuzzIdentityOf: whatever certificate a client presents (any DER, any
// URI SANs), the identity read from it is a valid agent id and site, or
// ErrNoIdentity; and Verify accepts nothing this CA did not sign.
func FuzzIdentityOf(f *testing.F) {
	ca, err := Generate("fuzz agent CA", 24*time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	chain, err := ca.Sign(csrDER(f, ec, "edge01"), identity.Identity{AgentID: "edge01", Site: "amsterdam"}, time.Hour, fuzzNow)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chain[0], "")
	f.Add(chain[1], "")
	// Self-signed look-alikes with hand-written identity URIs.
	for _, u := range []string{"spiffe://mxprobe/site/amsterdam/agent/edge01", "spiffe://mxprobe/site/a%2Fb/agent/x", "spiffe://mxprobe/site//agent/x",
		"spiffe://other/site/a/agent/b", "spiffe://mxprobe/site/a/agent/b/extra", "spiffe://mxprobe/site/%zz/agent/b"} {
		uri, err := url.Parse(u)
		if err != nil {
			uri = &url.URL{Scheme: "spiffe", Host: "mxprobe", Path: "/site/%zz/agent/b"}
		}
		tpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "x"}, NotBefore: fuzzNow.Add(-time.Hour), NotAfter: fuzzNow.Add(time.Hour),
			URIs: []*url.URL{uri}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &ec.PublicKey, ec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, u)
	}
	f.Fuzz(func(t *testing.T, der []byte, extraURI string) {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		if u, err := url.Parse(extraURI); err == nil && extraURI != "" {
			c.URIs = append(c.URIs, u)
		}
		id, err := identity.Of(c)
		if err != nil {
			if err != identity.ErrNoIdentity {
				t.Fatalf("IdentityOf: %v", err)
			}
		} else if !identity.ValidID(id.AgentID) || !identity.ValidID(id.Site) {
			t.Fatalf("identity %+v", id)
		}
		if vid, err := ca.Verify([]*x509.Certificate{c}, fuzzNow); err == nil {
			if c.CheckSignatureFrom(ca.Cert) != nil {
				t.Fatal("Verify accepted a certificate the CA did not sign")
			}
			if vid.AgentID == "" {
				t.Fatal("verified without an identity")
			}
		}
	})
}
