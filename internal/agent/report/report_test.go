package report

import (
	"bytes"
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
)

func fnd(code, subject string, sev mxv1.Severity) *mxv1.Finding {
	return &mxv1.Finding{Code: code, Subject: subject, Severity: sev, Summary: code + " on " + subject}
}

func table(t *testing.T, fs ...*mxv1.Finding) string {
	t.Helper()
	res := []*mxv1.CheckResult{{Check: "certstore", Status: mxv1.CheckStatus_CHECK_STATUS_OK, Findings: fs}}
	diagnose.Link(res)
	var b bytes.Buffer
	if err := WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The footer never says "0 root causes" next to critical findings that
// nothing explains: it counts them as standing on their own.
func TestFooterCountsUnexplainedErrors(t *testing.T) {
	out := table(t, fnd("CERT_NO_PRIVATE_KEY", "AAA", mxv1.Severity_SEVERITY_CRITICAL), fnd("CERT_EXPIRED", "BBB", mxv1.Severity_SEVERITY_CRITICAL),
		fnd("CERT_EXPIRING", "CCC", mxv1.Severity_SEVERITY_WARNING))
	last := lastLine(out)
	if strings.Contains(last, "root cause") || !strings.Contains(last, "3 findings from 1 check: 2 findings at error or above are not linked to a cause") {
		t.Fatalf("footer %q", last)
	}
	out = table(t, fnd("CERT_EXPIRING", "CCC", mxv1.Severity_SEVERITY_WARNING))
	if last := lastLine(out); last != "1 finding from 1 check" {
		t.Fatalf("footer %q", last)
	}
}

// With a linked diagnosis the footer counts the root and what it explains,
// and still names an unrelated error.
func TestFooterWithDiagnosis(t *testing.T) {
	cause := fnd("CERT_NO_PRIVATE_KEY", "AAA", mxv1.Severity_SEVERITY_CRITICAL)
	cause.Evidence = map[string]string{"origin": "store"}
	sym := fnd("CONNECTOR_SELECTS_KEYLESS_CERT", "Outbound", mxv1.Severity_SEVERITY_CRITICAL)
	sym.Evidence = map[string]string{"keyless_thumbprints": "AAA", "connector": "Outbound"}
	other := fnd("CERT_WEAK_KEY", "DDD", mxv1.Severity_SEVERITY_ERROR)
	out := table(t, cause, sym, other)
	if !strings.Contains(out, "## root cause 1: CRITICAL CERT_NO_PRIVATE_KEY AAA") {
		t.Fatalf("no diagnosis:\n%s", out)
	}
	if last := lastLine(out); last != "3 findings from 1 check: 1 root cause explaining 1 other finding; 1 finding at error or above is not linked to a cause (listed under other findings; fix each on its own)" {
		t.Fatalf("footer %q", last)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
