package renewal

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/controller/renewal/renewaltest"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// The controller takes the public certificate only: a PFX, a PEM key block
// (alone or after the certificate) and a DER key are refused before they
// are parsed, and no error quotes the upload; PEM chains and DER
// certificates are read.
func TestUploadRefusesPrivateKeys(t *testing.T) {
	p := renewaltest.NewPKI(t, now, now.AddDate(0, 0, 20))
	n := issue(t, p.Contoso, now.AddDate(1, 0, 0))
	keyPEM, err := n.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := pem.Decode(keyPEM)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(n.Key)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"pfx":           renewaltest.PFX(t, n, "pw"),
		"pfx no pw":     renewaltest.PFX(t, n, ""),
		"pem with key":  append(n.ChainPEM(), keyPEM...),
		"key first":     append(append([]byte{}, keyPEM...), n.CertPEM()...),
		"der key":       keyDER.Bytes,
		"pkcs8 der key": pkcs8,
	} {
		err := PublicOnly(b)
		if !errors.Is(err, ErrPrivateKey) {
			t.Errorf("%s: %v", name, err)
		}
		_, _, err = ParseUpload(t.Context(), &mxv1.PreflightCertificateRequest{Certificate: b, KeySource: KeyInPFX})
		if !errors.Is(err, ErrBadRequest) || !errors.Is(err, ErrPrivateKey) || strings.Contains(err.Error(), "PRIVATE KEY-----") {
			t.Errorf("%s: upload: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{"text": []byte("hello"), "empty pem": []byte("-----BEGIN CERTIFICATE-----\n"), "csr": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})} {
		if err := PublicOnly(b); !errors.Is(err, ErrNotCertificate) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{"pem chain": n.ChainPEM(), "der": n.Cert.Raw, "der chain": append(append([]byte{}, n.Cert.Raw...), n.Chain[0].Raw...)} {
		if err := PublicOnly(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		c, ks, err := ParseUpload(t.Context(), &mxv1.PreflightCertificateRequest{Certificate: b, FileName: "mail.pfx", KeySource: KeyInPFX})
		if err != nil || ks != preflight.KeyFromFile || leafOf(c) == nil || leafOf(c).Thumbprint != n.Thumbprint() {
			t.Fatalf("%s: %v %v %v", name, c, ks, err)
		}
	}
}

func leafOf(c certstore.Contents) *certstore.Certificate {
	for i := range c.Certificates {
		if !c.Certificates[i].Cert.IsCA {
			return &c.Certificates[i]
		}
	}
	return nil
}

// The key statement decides what the prediction sees: pfx is a usable key
// (said to be stated, not seen), request pairs with the server's pending
// request (not checked: agents do not report their request stores), none
// is keyless; no statement is refused. The plan imports a
// .pfx when the key comes from one.
func TestKeyStatement(t *testing.T) {
	fl := newFleet(t)
	n := issue(t, fl.contoso, now.AddDate(1, 0, 0))
	run := func(ksName string) (*mxv1.PreflightCertificateResponse, error) {
		req := &mxv1.PreflightCertificateRequest{Certificate: n.ChainPEM(), FileName: `C:\certs\mail-2026.cer`, KeySource: ksName}
		c, ks, err := ParseUpload(t.Context(), req)
		if err != nil {
			return nil, err
		}
		return Run(Request{Agents: fl.agents, Results: fl.results, New: c, KeySource: ks, NewFile: ImportFile(req), Now: now, StaleAfter: 5 * time.Minute})
	}
	if _, err := run(""); !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "pfx") {
		t.Fatalf("no statement: %v", err)
	}
	if _, err := run("file"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("file: %v", err)
	}
	for _, c := range []struct {
		ks, keyCheck, detail, imports string
		breaks                        bool
	}{
		{KeyInPFX, "pass", "stated by the caller", "mail-2026.pfx')) -Password", false},
		// The controller sees no server's pending requests: not checked.
		{KeyFromRequest, "not-checked", "pending request", "mail-2026.cer'))", false},
		{KeyNone, "fail", "without a private key", "mail-2026.cer'))", true},
	} {
		resp, err := run(c.ks)
		if err != nil {
			t.Fatalf("%s: %v", c.ks, err)
		}
		if resp.GetBreaks() != c.breaks {
			t.Errorf("%s: breaks %v", c.ks, resp.GetBreaks())
		}
		a := resp.GetAgents()[0]
		var key string
		for _, ch := range a.GetChecks() {
			if ch.GetId() == preflight.CheckKey {
				key = ch.GetStatus() + " " + ch.GetSummary()
			}
		}
		if !strings.HasPrefix(key, c.keyCheck) || !strings.Contains(key, c.detail) {
			t.Errorf("%s: key check %q", c.ks, key)
		}
		var plan string
		for _, s := range a.GetPlan() {
			plan += strings.Join(s.GetCommands(), "\n") + "\n"
		}
		if !strings.Contains(plan, c.imports) {
			t.Errorf("%s: plan does not import %q:\n%s", c.ks, c.imports, plan)
		}
	}
}
