package certdiag

import (
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/lab"
)

func mustCA(t *testing.T, name string) *lab.CA {
	t.Helper()
	ca, err := lab.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *lab.CA, o lab.IssueOptions) *lab.Issued {
	t.Helper()
	is, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func wantFragments(t *testing.T, what, text string, frags ...string) {
	t.Helper()
	for _, f := range frags {
		if !strings.Contains(text, f) {
			t.Errorf("%s lacks %q: %s", what, f, text)
		}
	}
}

// The prose rendering of selections says what the typed conditions mean.
func TestExplainSelection(t *testing.T) {
	ca := mustCA(t, "Contoso Issuing CA")
	now := time.Now()
	good := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: now.AddDate(0, 0, -30)})
	dup := mustIssue(t, ca, lab.IssueOptions{CommonName: "mail.contoso.com", NotBefore: now.AddDate(0, 0, -2)})
	store := []certstore.Certificate{storeCert(dup, certstore.KeyAbsent), storeCert(good, certstore.KeyUsable)}
	name := exchange.TLSCertificateNameFor(good.Cert).String()

	send := exchange.SelectSend(exchange.SendConnector{Name: "Outbound to Office 365", Enabled: true, TlsCertificateName: name}, "", store, exchange.SelectOptions{})
	wantFragments(t, "seed send", ExplainSelection(send), "Outbound to Office 365", dup.Thumbprint(), "NoCredentials", "2 certificates match")

	other := mustIssue(t, mustCA(t, "Other CA"), lab.IssueOptions{CommonName: "mail.contoso.com"})
	nf := exchange.SelectSend(exchange.SendConnector{Name: "x", Enabled: true, TlsCertificateName: name}, "", []certstore.Certificate{storeCert(other, certstore.KeyUsable)}, exchange.SelectOptions{})
	wantFragments(t, "not found", ExplainSelection(nf), "454 4.7.5", "12014", "different issuer", other.Thumbprint())

	no := false
	unreadable := storeCert(good, certstore.KeyUsable)
	unreadable.TransportCanReadKey = &no
	recv := exchange.SelectReceive(exchange.ReceiveConnector{Name: "Default Frontend", Enabled: true, TlsCertificateName: name}, "", []certstore.Certificate{unreadable}, exchange.SelectOptions{})
	wantFragments(t, "receive, key unreadable", ExplainSelection(recv), "none is eligible", good.Thumbprint(), "NETWORK SERVICE", "12014")

	expired := mustIssue(t, ca, lab.IssueOptions{CommonName: "old.contoso.com", NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -3)})
	ex := exchange.SelectReceive(exchange.ReceiveConnector{Name: "r", Enabled: true, Fqdn: "old.contoso.com"}, "", []certstore.Certificate{storeCert(expired, certstore.KeyUsable)}, exchange.SelectOptions{})
	wantFragments(t, "expired", ExplainSelection(ex), "expired on", "12016")

	bad := exchange.SelectSend(exchange.SendConnector{Name: "typo", Enabled: true, TlsCertificateName: "CN=mail.contoso.com"}, "", store, exchange.SelectOptions{})
	wantFragments(t, "malformed", ExplainSelection(bad), "malformed", "typo")

	for thumb, frag := range map[string]string{
		good.Thumbprint(): "usable private key", dup.Thumbprint(): "no private key", "0123456789ABCDEF0123456789ABCDEF01234567": "not in the store",
		"": "No InternalTransportCertificateThumbprint", "not-a-thumbprint": "is not a thumbprint",
	} {
		wantFragments(t, "internal "+thumb, ExplainSelection(exchange.SelectInternalTransport(thumb, store, exchange.SelectOptions{})), frag)
	}
	wild := exchange.SelectSend(exchange.SendConnector{Name: "w", Enabled: true, Fqdn: "nothing.contoso.com"}, "", store, exchange.SelectOptions{})
	wantFragments(t, "no name", ExplainSelection(wild), "no client certificate")
}
