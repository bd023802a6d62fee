package diagnose

import (
	"slices"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
)

var evT0 = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

func ev(provider string, id uint32, minute int, data ...string) eventlog.Event {
	return eventlog.Event{Provider: provider, ID: id, Time: evT0.Add(time.Duration(minute) * time.Minute), Computer: "E19.contoso.lab", RecordID: uint64(100 + minute), Data: data}
}

func explainedBy(f *mxv1.Finding) []string {
	var out []string
	for _, r := range f.GetExplainedBy() {
		out = append(out, r.Code+" "+r.Subject)
	}
	return out
}

func TestEventFindings(t *testing.T) {
	evs := []eventlog.Event{
		ev(eventlog.ProviderFrontEndTransport, 12014, 1, "mail.contoso.com", "Default Frontend E19", "mail.contoso.com"),
		ev(eventlog.ProviderFrontEndTransport, 12014, 9, "mail.contoso.com", "Default Frontend E19", "mail.contoso.com"),
		ev(eventlog.ProviderTransport, 12016, 2, "smtp.contoso.com"),
		ev(eventlog.ProviderTransport, 12015, 3, strings.ToLower(tpB)),
		ev(eventlog.ProviderTransport, 12024, 4, tpA, "1111111111111111111111111111111111111111"),
		ev(eventlog.ProviderTransport, 12013, 5, tpA),
		ev(eventlog.ProviderTransport, 12012, 6),
		{Provider: "Schannel", ID: 36887, Time: evT0, Data: []string{"48"}, DataNames: []string{"AlertDesc"}},
		{Provider: "Schannel", ID: 36888, Time: evT0, Data: []string{"70", "1205"}, DataNames: []string{"AlertDesc", "ErrorState"}},
		{Provider: "Schannel", ID: 36874, Time: evT0, Data: []string{"TLS 1.0"}, DataNames: []string{"Protocol"}},
		ev("Service Control Manager", 12014, 7, "not", "exchange"), // another provider's ID 12014
	}
	fs := Events(evs, Options{Host: "E19"})
	got := map[string]*mxv1.Finding{}
	for _, f := range fs {
		got[f.Code+" "+f.Subject] = f
	}
	want := []string{
		"EVENT_STARTTLS_CERT_NOT_FOUND Default Frontend E19", "EVENT_STARTTLS_CERT_EXPIRED smtp.contoso.com",
		"EVENT_INTERNAL_CERT_EXPIRED " + tpB, "EVENT_CERT_LOAD_FAILED " + tpA, "EVENT_INTERNAL_CERT_NOT_IN_AD E19.contoso.lab",
		"EVENT_SCHANNEL_ALERT received:48", "EVENT_SCHANNEL_ALERT sent:70", "EVENT_SCHANNEL_NO_CIPHER TLS 1.0",
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), findingtest.Codes(fs))
	}
	for _, w := range want {
		if got[w] == nil {
			t.Errorf("missing %s", w)
		}
	}
	nf := got["EVENT_STARTTLS_CERT_NOT_FOUND Default Frontend E19"]
	if nf == nil || nf.Evidence["count"] != "2" || nf.Evidence[finding.EvConnector] != "Default Frontend E19" || nf.Evidence["first_seen"] != "2026-12-02T06:01:00Z" ||
		!strings.Contains(nf.Summary, `"mail.contoso.com"`) || !strings.Contains(nf.Remediation, "Enable-ExchangeCertificate") {
		t.Errorf("12014 finding: %+v", nf)
	}
	lf := got["EVENT_CERT_LOAD_FAILED "+tpA]
	if lf == nil || lf.Evidence[evEventIDs] != "12024,12013" || lf.Evidence["ephemeral_thumbprint"] != "1111111111111111111111111111111111111111" ||
		!strings.Contains(lf.Summary, "ephemeral self-signed certificate 1111111111111111111111111111111111111111") {
		t.Errorf("12013/12024 finding: %+v", lf)
	}
	if a := got["EVENT_SCHANNEL_ALERT received:48"]; a == nil || a.Evidence["alert"] != "unknown_ca" || a.Severity != mxv1.Severity_SEVERITY_WARNING ||
		!strings.Contains(a.Summary, "names neither the service nor the peer") {
		t.Errorf("36887: %+v", a)
	}
	if a := got["EVENT_SCHANNEL_ALERT sent:70"]; a == nil || a.Evidence["error_states"] != "1205" || !strings.Contains(a.Remediation, "TLS 1.2") {
		t.Errorf("36888: %+v", a)
	}
	if nf != nil && strings.Contains(nf.Remediation, "Remove-Item") {
		t.Errorf("12014 remediation tells to delete something the event does not implicate: %s", nf.Remediation)
	}
}

// The 12014 variant that names a TlsCertificateName tells to fix the
// connector's TlsCertificateName.
func TestEvent12014WithTLSCertificateName(t *testing.T) {
	name := "<I>CN=R3, O=Let's Encrypt, C=US<S>CN=mail.contoso.com"
	fs := Events([]eventlog.Event{ev(eventlog.ProviderFrontEndTransport, 12014, 0, name, "Inbound from Office 365", name)}, Options{Host: "E19"})
	if len(fs) != 1 || !strings.Contains(fs[0].Remediation, "Set-ReceiveConnector -Identity \"Inbound from Office 365\" -TlsCertificateName") {
		t.Fatalf("%+v", fs)
	}
}

// Link ties event findings to the store and connector findings that
// explain them, joined on the certificate's names, thumbprint, and the
// connector's name.
func TestEventFindingsLinkToCauses(t *testing.T) {
	keyless := finding.New(finding.CertNoPrivateKey, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tpA, "keyless",
		map[string]string{"origin": "store", "subject": "CN=mail.contoso.com, O=Contoso", "dns_names": "mail.contoso.com,autodiscover.contoso.com"}, "")
	otherName := finding.New(finding.CertKeyNotAccessible, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, "2222222222222222222222222222222222222222", "other",
		map[string]string{"origin": "store", "subject": "CN=owa.contoso.com", "dns_names": "owa.contoso.com"}, "")
	expired := finding.New(finding.CertExpired, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tpB, "expired",
		map[string]string{"origin": "store", "subject": "CN=smtp.contoso.com", "dns_names": ""}, "")
	presented := finding.New(finding.CertExpired, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, "3333333333333333333333333333333333333333", "presented by a peer",
		map[string]string{"origin": "presented", "subject": "CN=*.contoso.com", "dns_names": "*.contoso.com"}, "")
	notFound := finding.New(finding.ConnectorCertNotFound, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, "receive:Default Frontend E19", "not found",
		map[string]string{finding.EvConnector: `E19\Default Frontend E19`}, "")
	itc := finding.New(finding.InternalTransportCertKeyless, mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE, tpA, "itc keyless", map[string]string{}, "")
	logNoTLS := finding.New(finding.LogStartTLSNotOffered, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, "receive:Default Frontend E19", "log",
		map[string]string{finding.EvConnector: "Default Frontend E19", finding.EvDirection: "receive"}, "")

	evFs := Events([]eventlog.Event{
		ev(eventlog.ProviderFrontEndTransport, 12014, 1, "mail.contoso.com", "Default Frontend E19", "mail.contoso.com"),
		ev(eventlog.ProviderTransport, 12016, 2, "smtp.contoso.com"),
		ev(eventlog.ProviderTransport, 12015, 3, tpB),
		ev(eventlog.ProviderTransport, 12013, 5, tpA),
	}, Options{Host: "E19"})
	all := append([]*mxv1.Finding{keyless, otherName, expired, presented, notFound, itc, logNoTLS}, evFs...)
	LinkFindings(all)
	by := func(code finding.Code) []string { return explainedBy(findingtest.Find(evFs, code)) }
	check := func(name string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s explained by %v, want %v", name, got, want)
		}
	}
	check("12014", by(finding.EventStartTLSCertNotFound), []string{"CERT_NO_PRIVATE_KEY " + tpA, "CONNECTOR_CERT_NOT_FOUND receive:Default Frontend E19"})
	check("12016", by(finding.EventStartTLSCertExpired), []string{"CERT_EXPIRED " + tpB})
	check("12015", by(finding.EventInternalCertExpired), []string{"CERT_EXPIRED " + tpB})
	check("12013", by(finding.EventCertLoadFailed), []string{"CERT_NO_PRIVATE_KEY " + tpA, "INTERNAL_TRANSPORT_CERT_KEYLESS " + tpA})
	check("protocol log", explainedBy(logNoTLS), []string{"CERT_NO_PRIVATE_KEY " + tpA, "CONNECTOR_CERT_NOT_FOUND receive:Default Frontend E19",
		"EVENT_STARTTLS_CERT_NOT_FOUND Default Frontend E19"})
}
