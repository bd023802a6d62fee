package certdiag

import (
	"errors"
	"testing"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/certstore/certstoretest"
)

// The listing TransportSummaries sends is what ContentsOf rebuilds: the
// controller simulates on the agent's store, not on a guess.
func TestContentsOfRebuildsTransportSummaries(t *testing.T) {
	ca := certstoretest.NewCA(t)
	a := ca.Issue(t, "mail.contoso.com", certstoretest.NewECKey(t).Public())
	b := ca.Issue(t, "edge01.contoso.com", certstoretest.NewECKey(t).Public())
	yes, no := true, false
	st := certstore.Contents{Location: "windows:LocalMachine\\My", Certificates: []certstore.Certificate{
		{Thumbprint: "AA", Cert: a, HasPrivateKey: true, TransportCanReadKey: &yes, Services: []string{"SMTP"}, FriendlyName: "mail"},
		{Thumbprint: "BB", Cert: b, HasPrivateKey: true, TransportCanReadKey: &no},
		{Thumbprint: "CC"}, // no certificate: not listed
	}}
	got, err := ContentsOf(TransportSummaries([]certstore.Contents{st}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Location != st.Location || len(got.Certificates) != 2 {
		t.Fatalf("rebuilt %q with %d certificates", got.Location, len(got.Certificates))
	}
	for i, want := range st.Certificates[:2] {
		c := got.Certificates[i]
		if c.Thumbprint != want.Thumbprint || !c.Cert.Equal(want.Cert) || c.HasPrivateKey != want.HasPrivateKey ||
			c.TransportCanReadKey == nil || *c.TransportCanReadKey != *want.TransportCanReadKey || c.FriendlyName != want.FriendlyName {
			t.Errorf("certificate %d: %+v, want %+v", i, c, want)
		}
	}
	if s := got.Certificates[0].Services; len(s) != 1 || s[0] != "SMTP" {
		t.Errorf("services %v", s)
	}
}

func TestContentsOfRefusesAListingWithoutDER(t *testing.T) {
	ca := certstoretest.NewCA(t)
	c := ca.Issue(t, "mail.contoso.com", certstoretest.NewECKey(t).Public())
	ss := Summaries(certstore.Contents{Certificates: []certstore.Certificate{{Thumbprint: "AA", Cert: c}}})
	if _, err := ContentsOf(ss); !errors.Is(err, ErrNoDER) {
		t.Fatalf("err %v, want ErrNoDER", err)
	}
}
