package diagnose

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/finding/findingtest"
)

func versions(outcomes ...smtpprobe.VersionOutcome) []smtpprobe.VersionResult {
	var out []smtpprobe.VersionResult
	for i, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		vr := smtpprobe.VersionResult{Version: v, Name: tls.VersionName(v), Outcome: outcomes[i], Supported: outcomes[i] == smtpprobe.VersionAccepted}
		if !vr.Supported {
			vr.Err = fmt.Errorf("%w: test", smtpprobe.ErrHandshake)
		}
		out = append(out, vr)
	}
	return out
}

// TLS 1.2 is "unsupported" only when refused while another version was
// accepted; drops, timeouts and unknowns alone claim nothing.
func TestVersionClaimsNeedActiveRefusal(t *testing.T) {
	A, R, D, U := smtpprobe.VersionAccepted, smtpprobe.VersionRefused, smtpprobe.VersionDropped, smtpprobe.VersionUnknown
	for _, tc := range []struct {
		name     string
		outcomes []smtpprobe.VersionOutcome
		tls12    bool
		obsolete bool
	}{
		{"every attempt timed out", []smtpprobe.VersionOutcome{U, U, U, U}, false, false},
		{"every attempt reset", []smtpprobe.VersionOutcome{D, D, D, D}, false, false},
		{"modern refused, nothing accepted", []smtpprobe.VersionOutcome{R, R, R, R}, false, false},
		{"modern dropped while TLS 1.0 accepted", []smtpprobe.VersionOutcome{A, D, D, D}, true, true},
		{"modern refused while 1.0/1.1 accepted", []smtpprobe.VersionOutcome{A, A, R, R}, true, true},
		{"TLS 1.2 timed out, 1.3 refused", []smtpprobe.VersionOutcome{A, A, U, R}, false, true},
		{"healthy", []smtpprobe.VersionOutcome{R, R, A, A}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &smtpprobe.Result{Target: "mx.contoso.com:25", Phase: smtpprobe.PhaseDone, SupportedVersions: versions(tc.outcomes...)}
			fs := SMTPProbe(r, Options{})
			if got := findingtest.Find(fs, finding.TLS12Unsupported) != nil; got != tc.tls12 {
				t.Errorf("TLS12_UNSUPPORTED = %v, want %v (%v)", got, tc.tls12, findingtest.Codes(fs))
			}
			if got := findingtest.Find(fs, finding.TLSProtocolObsolete) != nil; got != tc.obsolete {
				t.Errorf("TLS_PROTOCOL_OBSOLETE = %v, want %v (%v)", got, tc.obsolete, findingtest.Codes(fs))
			}
		})
	}
}
