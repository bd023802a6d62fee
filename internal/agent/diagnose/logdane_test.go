package diagnose

import (
	"strings"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Exchange Online's DANE results in replies of a Send protocol log: the TLS
// session to Exchange Online succeeds, the RCPT is answered 5.7.323; the
// finding stays while later sessions get the same answer or any 4xx/5xx, and
// clears when a session on that path gets none. A number that only looks
// like a code (no DANE result name) is not one; a receive log is not read.
func TestLogDANEResults(t *testing.T) {
	base := time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	const tlsaInvalid = "550 5.7.323 tlsa-invalid: The domain failed DANE validation."
	s := func(m int, reply string) checktest.Session {
		return checktest.Session{Connector: "Outbound to Office 365", Start: at(m), Reply: reply}
	}
	dane := func(fs []*mxv1.Finding) []*mxv1.Finding {
		var out []*mxv1.Finding
		for _, f := range fs {
			if f.Code == string(finding.DANENDR) {
				out = append(out, f)
			}
		}
		return out
	}

	fs := dane(ProtocolLogSessions(parseLog(t, checktest.SendLog(s(1, tlsaInvalid), s(2, tlsaInvalid),
		s(3, "452 4.3.1 Insufficient system resources"))), nil, Options{Host: "edge01"}))
	if len(fs) != 1 {
		t.Fatalf("DANE findings %v", fs)
	}
	f := fs[0]
	if f.SubjectKind != mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR || f.Subject != "send:Outbound to Office 365:5.7.323" || f.Evidence["count"] != "2" ||
		f.Evidence["dane_results"] != "tlsa-invalid" || f.Evidence["origin"] != "protocol-log" || !strings.Contains(f.Evidence["reply"], "5.7.323") ||
		!strings.Contains(f.Summary, "5.7.323 tlsa-invalid") || f.Severity != mxv1.Severity_SEVERITY_ERROR {
		t.Fatalf("finding %v", f)
	}

	// A later session on the path without any 4xx/5xx clears it.
	if fs := dane(ProtocolLogSessions(parseLog(t, checktest.SendLog(s(1, tlsaInvalid), s(2, ""))), nil, Options{})); len(fs) != 0 {
		t.Fatalf("cleared path still has %v", fs)
	}
	for _, reply := range []string{"550 5.7.323 Recipient rejected", "550 5.7.322 certificate-expired: Destination mail server's certificate is expired."} {
		log := checktest.SendLog(s(1, reply))
		if strings.Contains(reply, "certificate-expired") {
			if fs := dane(ProtocolLogSessions(parseLog(t, log), nil, Options{})); len(fs) != 1 || fs[0].Evidence["ndr_codes"] != "5.7.322" {
				t.Fatalf("%q: %v", reply, fs)
			}
			if fs := dane(ProtocolLogSessions(parseLog(t, checktest.ReceiveLog(s(1, reply))), nil, Options{})); len(fs) != 0 {
				t.Fatalf("receive log: %v", fs)
			}
			continue
		}
		if fs := dane(ProtocolLogSessions(parseLog(t, log), nil, Options{})); len(fs) != 0 {
			t.Fatalf("%q is no DANE result: %v", reply, fs)
		}
	}
}
