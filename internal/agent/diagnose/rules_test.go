package diagnose

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
)

func parseLog(t testing.TB, data []byte) []protolog.Session {
	t.Helper()
	var p protolog.Parser
	sum, err := p.Parse(context.Background(), bytes.NewReader(data), "SEND20190502-1.log")
	if err != nil {
		t.Fatal(err)
	}
	return sum.Sessions
}

const tpA = "B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C"
const tpB = "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"

func TestQueueRule(t *testing.T) {
	snap, err := queue.ParseBytes(checktest.QueueJSON(`EDGE01\3`, "tenant.mail.onmicrosoft.com", 17, checktest.SeedLastError))
	if err != nil {
		t.Fatal(err)
	}
	fs := Queues(snap, Options{Host: "edge01"})
	if len(fs) != 1 || fs[0].Code != string(finding.QueueTLSFailure) || fs[0].Subject != `EDGE01\3` {
		t.Fatalf("seed queue: %v", findingtest.Codes(fs))
	}
	ev := fs[0].Evidence
	if ev["next_hop"] != "tenant.mail.onmicrosoft.com" || ev["lasterror_fqdn"] != "tenant-mail-onmicrosoft-com.mail.protection.outlook.com" ||
		ev["message_count"] != "17" || !strings.Contains(ev["signatures"], queue.SigTargetHostTimeout) {
		t.Fatalf("seed queue finding %v %v", fs[0].Severity, ev)
	}
	// Messages held back: the catalog's severity (docs/findings.md), and
	// the text does not claim TLS for a timeout.
	if e, _ := finding.Default().Lookup(finding.QueueTLSFailure); fs[0].Severity != e.Severity || e.Severity != mxv1.Severity_SEVERITY_ERROR {
		t.Fatalf("seed queue severity %v, catalog %v", fs[0].Severity, e.Severity)
	}
	if !strings.Contains(fs[0].Summary, "17 messages") || !strings.Contains(fs[0].Summary, "connection-level") || strings.Contains(fs[0].Summary, "names a TLS failure") {
		t.Fatalf("summary %q", fs[0].Summary)
	}
	fix := fs[0].Remediation
	if !strings.Contains(fix, `Retry-Queue -Identity 'EDGE01\3'`) || !strings.Contains(fix, "protocol log") || !strings.Contains(fix, `"421 4.4.1 Connection timed out"`) {
		t.Fatalf("fix %q", fix)
	}
	// Every sentence of the fix ends before the next begins (no "...timed out Fix the ...").
	for _, bad := range []string{"out Fix", "connect Fix", "  "} {
		if strings.Contains(fix, bad) {
			t.Fatalf("garbled fix %q", fix)
		}
	}
	// In Retry with nothing held back: a warning.
	snap, err = queue.ParseBytes(checktest.QueueJSON(`EDGE01\4`, "tenant.mail.onmicrosoft.com", 0, checktest.SeedLastError))
	if err != nil {
		t.Fatal(err)
	}
	if fs := Queues(snap, Options{}); len(fs) != 1 || fs[0].Severity != mxv1.Severity_SEVERITY_WARNING || !strings.Contains(fs[0].Summary, "0 messages") {
		t.Fatalf("empty retry queue: %v", fs)
	}
	// A TLS-specific signature is an error; an unrelated error or an empty
	// queue without retry is nothing.
	snap, err = queue.ParseBytes(checktest.QueueJSON(`EDGE01\5`, "partner.example", 3, "[{LED=454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found.};{MSG=};{FQDN=mx.partner.example};{IP=198.51.100.7};{LRT=5/2/2019 6:32:14 AM}]"))
	if err != nil {
		t.Fatal(err)
	}
	fs = Queues(snap, Options{})
	if len(fs) != 1 || fs[0].Severity != mxv1.Severity_SEVERITY_ERROR || fs[0].Evidence["replies"] != "454 4.7.5" || !strings.Contains(fs[0].Summary, "names a TLS failure") {
		t.Fatalf("454 queue: %v", fs)
	}
	snap, _ = queue.ParseBytes(checktest.QueueJSON(`EDGE01\6`, "contoso.com", 2, "[{LED=550 5.1.1 User unknown};{MSG=};{FQDN=};{IP=};{LRT=}]"))
	if fs := Queues(snap, Options{}); len(fs) != 0 {
		t.Fatalf("non-TLS error: %v", findingtest.Codes(fs))
	}
}

func TestLogRules(t *testing.T) {
	base := time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	log := checktest.SendLog(
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials", Start: at(1)},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials", Start: at(2), Remote: "104.47.2.9:25",
			Banner: "DB5EUR03FT044.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials", Start: at(3), Condensed: true},
		checktest.Session{Connector: "To partner", Remote: "198.51.100.7:25", Banner: "mx.partner.example ESMTP", Failure: "SocketError", Start: at(4),
			Reply: "421 4.4.2 Connection dropped due to SocketError"},
	)
	fs := ProtocolLogSessions(parseLog(t, log), nil, Options{Host: "edge01"})
	var nocred, sock *mxv1.Finding
	for _, f := range fs {
		if f.Code == string(finding.LogTLSNegotiationFailed) {
			switch f.Evidence["sspi_status"] {
			case "NoCredentials":
				nocred = f
			case "SocketError":
				sock = f
			}
		}
	}
	if nocred == nil || sock == nil {
		t.Fatalf("findings %v", findingtest.Codes(fs))
	}
	if nocred.Evidence["count"] != "3" || nocred.Evidence["thumbprint_sent"] != tpA || nocred.Evidence["remote_endpoints"] != "104.47.1.33,104.47.2.9" ||
		nocred.Evidence["first_seen"] != "2019-05-02T06:01:00Z" || !strings.Contains(nocred.Remediation, tpA) {
		t.Fatalf("NoCredentials evidence %v fix %s", nocred.Evidence, nocred.Remediation)
	}
	if !strings.Contains(sock.Remediation, "TLS 1.2") {
		t.Fatalf("SocketError fix %q", sock.Remediation)
	}
	// Expectation: the connector should present tpB -> unexpected cert.
	exp := certdiag.ExpectedSent{"outbound to office 365": {Connector: "Outbound to Office 365", Thumbprint: tpB, Candidates: []string{tpA, tpB}, Selected: tpA}}
	fs = ProtocolLogSessions(parseLog(t, log), exp, Options{})
	u := findingtest.Find(fs, finding.LogUnexpectedCertSent)
	if u == nil || u.Evidence["thumbprint_sent"] != tpA || u.Evidence["expected_thumbprint"] != tpB || !strings.Contains(u.Remediation, tpA) {
		t.Fatalf("unexpected cert: %v", u)
	}
	// After the fix: sessions send tpB and succeed -> failures and the stale
	// unexpected usage are cleared.
	fixed := append(log, checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpB, Start: at(10), Remote: "104.47.9.9:25",
		Banner: "AM6EUR05FT011.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"})...)
	fs = ProtocolLogSessions(parseLog(t, fixed), exp, Options{})
	for _, f := range fs {
		if f.Evidence["connector"] != "Outbound to Office 365" {
			continue
		}
		// What remains is the record that transport now sends tpB where the
		// (unchanged) simulation picks tpA: information, not a failure.
		if f.Code != string(finding.LogCertSent) || f.Severity != mxv1.Severity_SEVERITY_INFO || f.Evidence["thumbprint_sent"] != tpB {
			t.Errorf("after a successful session still: %s %s", f.Code, f.Subject)
		}
	}
	if findingtest.Find(fs, finding.LogTLSNegotiationFailed) == nil {
		t.Error("the partner connector's SocketError must persist")
	}
}

func TestLogWindowPersistsAndBounds(t *testing.T) {
	w := NewLogWindow(4, time.Hour)
	for i := range 20 {
		w.Add(parseLog(t, checktest.SendLog(checktest.Session{Connector: fmt.Sprintf("c%02d", i), Failure: "NoCredentials", SentThumbprint: tpA,
			Start: time.Date(2019, 5, 2, 6, i, 0, 0, time.UTC)}))[0])
	}
	if w.Len() > 4 {
		t.Fatalf("window holds %d groups, bound 4", w.Len())
	}
	var b bytes.Buffer
	if err := w.Save(&b); err != nil {
		t.Fatal(err)
	}
	w2 := NewLogWindow(4, time.Hour)
	if err := w2.Load(&b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(findingtest.Codes(ProtocolLog(w, nil, Options{})), findingtest.Codes(ProtocolLog(w2, nil, Options{}))) || w2.Len() == 0 {
		t.Fatal("reloaded window differs")
	}
	if err := w2.Load(strings.NewReader("{garbage")); err == nil {
		t.Fatal("garbage state accepted")
	}
}

func ref(code finding.Code, subject string) *mxv1.FindingRef {
	return &mxv1.FindingRef{Code: string(code), Subject: subject}
}

func hasRef(refs []*mxv1.FindingRef, r *mxv1.FindingRef) bool {
	return slices.ContainsFunc(refs, func(x *mxv1.FindingRef) bool { return x.Code == r.Code && x.Subject == r.Subject })
}

func f(code finding.Code, subject string, ev map[string]string) *mxv1.Finding {
	return finding.New(code, mxv1.SubjectKind_SUBJECT_KIND_UNSPECIFIED, subject, "", ev, "")
}

func TestLinkRules(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cause, symptom *mxv1.Finding
	}{
		{"UnknownCredentials -> key not accessible",
			f(finding.CertKeyNotAccessible, tpA, map[string]string{"origin": "store"}),
			f(finding.LogTLSNegotiationFailed, "send:X:UnknownCredentials:"+tpA, map[string]string{"sspi_status": "UnknownCredentials", "thumbprint_sent": tpA, "connector": "X", "direction": "send"})},
		{"454 4.7.5 -> connector cert not found",
			f(finding.ConnectorCertNotFound, "Outbound", map[string]string{"connector": "Outbound", "connector_kind": "send"}),
			f(finding.LogTLSCertNotFound, "send:Outbound", map[string]string{"connector": "Outbound", "direction": "send"})},
		{"SocketError -> TLS 1.2 unsupported at that endpoint",
			f(finding.TLS12Unsupported, "mx.partner.example:25", nil),
			f(finding.LogTLSNegotiationFailed, "send:P:SocketError", map[string]string{"sspi_status": "SocketError", "connector": "P", "remote_names": "mx.partner.example", "remote_endpoints": "198.51.100.7"})},
		{"queue 454 -> connector cert not found via address space",
			f(finding.ConnectorCertNotFound, "To partner", map[string]string{"connector": "To partner", "connector_kind": "send", "address_spaces": "partner.example"}),
			f(finding.QueueTLSFailure, `EDGE01\5`, map[string]string{"next_hop": "partner.example", "replies": "454 4.7.5"})},
		{"receive connector without STARTTLS -> log",
			f(finding.SMTPStartTLSNotOffered, `EDGE01\No TLS`, map[string]string{"connector": "No TLS", "predicted": "true"}),
			f(finding.LogStartTLSNotOffered, "receive:EDGE01\\No TLS", map[string]string{"connector": `EDGE01\No TLS`, "direction": "receive"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			LinkFindings([]*mxv1.Finding{tc.symptom, tc.cause})
			if !hasRef(tc.symptom.ExplainedBy, ref(finding.Code(tc.cause.Code), tc.cause.Subject)) || !hasRef(tc.cause.Explains, ref(finding.Code(tc.symptom.Code), tc.symptom.Subject)) {
				t.Fatalf("not linked: cause %v symptom %v", tc.cause.Explains, tc.symptom.ExplainedBy)
			}
		})
	}
	// No link across unrelated objects.
	c := f(finding.CertNoPrivateKey, tpA, map[string]string{"origin": "store"})
	s := f(finding.LogTLSNegotiationFailed, "x", map[string]string{"sspi_status": "NoCredentials", "thumbprint_sent": tpB})
	LinkFindings([]*mxv1.Finding{c, s})
	if len(c.Explains)+len(s.ExplainedBy) != 0 {
		t.Fatal("unrelated findings linked")
	}
}

// Links do not depend on the order of results and Link is idempotent.
func TestLinkDeterministic(t *testing.T) {
	build := func() []*mxv1.Finding {
		return []*mxv1.Finding{
			f(finding.CertNoPrivateKey, tpA, map[string]string{"origin": "store"}),
			f(finding.CertDuplicateIdentity, "<I>CN=CA<S>CN=mail", map[string]string{"thumbprints": tpA + "," + tpB, "without_usable_key": tpA}),
			f(finding.ConnectorCertAmbiguous, "Out", map[string]string{"connector": "Out", "connector_kind": "send", "candidate_thumbprints": tpA + "," + tpB}),
			f(finding.ConnectorSelectsKeyless, "Out", map[string]string{"connector": "Out", "connector_kind": "send", "keyless_thumbprints": tpA, "targets_exchange_online": "true"}),
			f(finding.LogTLSNegotiationFailed, "send:Out:NoCredentials:"+tpA, map[string]string{"connector": "Out", "direction": "send", "sspi_status": "NoCredentials", "thumbprint_sent": tpA, "remote_names": "AM5.mail.protection.outlook.com"}),
			f(finding.QueueTLSFailure, `EDGE01\3`, map[string]string{"next_hop": "tenant.mail.onmicrosoft.com", "lasterror_fqdn": "tenant-mail-onmicrosoft-com.mail.protection.outlook.com"}),
		}
	}
	want := build()
	LinkFindings(want)
	snapshot := func(fs []*mxv1.Finding) string {
		var b strings.Builder
		sorted := slices.Clone(fs)
		slices.SortFunc(sorted, func(a, b *mxv1.Finding) int { return strings.Compare(a.Code+a.Subject, b.Code+b.Subject) })
		for _, x := range sorted {
			fmt.Fprintf(&b, "%s %s by=%v ex=%v\n", x.Code, x.Subject, x.ExplainedBy, x.Explains)
		}
		return b.String()
	}
	for i := range 20 {
		got := build()
		rand.Shuffle(len(got), func(a, b int) { got[a], got[b] = got[b], got[a] })
		LinkFindings(got)
		if i%2 == 0 {
			LinkFindings(got)
		}
		if snapshot(got) != snapshot(want) {
			t.Fatalf("order-dependent links:\n%s\nvs\n%s", snapshot(got), snapshot(want))
		}
	}
	ds := Diagnoses(want)
	if len(ds) != 1 || ds[0].Cause.Code != string(finding.CertNoPrivateKey) || len(ds[0].Symptoms) != 5 {
		t.Fatalf("diagnoses %+v", ds)
	}
}
