package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
	"github.com/mxprobe/mxprobe/internal/certdiag"
)

// windowViews feeds one window the sessions of a full parse of data, one
// CheckView of them and one the sessions of a parse with CheckView set,
// and returns each window's findings, groups and usages as JSON.
func windowViews(t testing.TB, data []byte, name string, maxGroups int) (whole, view, parsed string) {
	t.Helper()
	exp := certdiag.ExpectedSent{
		"outbound to office 365": {Connector: "Outbound to Office 365", Thumbprint: tpB, Candidates: []string{tpA, tpB}, Selected: tpA},
		"partner, inc. (tls)":    {Connector: "Partner, Inc. (TLS)", Thumbprint: loggen.ThumbOK, Selected: tpA},
	}
	result := func(w *LogWindow) string {
		b, err := json.Marshal([]any{ProtocolLog(w, exp, Options{Host: "edge01"}), w.Groups(), w.Sent(), w.Sessions()})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	parse := func(checkView bool, add func(protolog.Session)) {
		p := protolog.Parser{OnSession: add, CheckView: checkView, MaxLineBytes: 4096, MaxOpenSessions: 64}
		if _, err := p.Parse(context.Background(), bytes.NewReader(data), name); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := NewLogWindow(maxGroups, 0), NewLogWindow(maxGroups, 0), NewLogWindow(maxGroups, 0)
	parse(false, func(s protolog.Session) {
		a.Add(s)
		b.Add(protolog.CheckView(s))
	})
	parse(true, c.Add)
	return result(a), result(b), result(c)
}

// TestWindowReadsCheckView: a window fed CheckView of each session gives
// the findings, groups and usages of one fed whole sessions, and so does
// one fed by a parse with CheckView set (agent check's): the window reads
// no field CheckView drops.
func TestWindowReadsCheckView(t *testing.T) {
	base := time.Date(2019, 5, 2, 6, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	exo := "DB5EUR03FT044.mail.protection.outlook.com Microsoft ESMTP MAIL Service ready"
	rules := checktest.SendLog(
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials", Start: at(1)},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials", Start: at(2), Remote: "104.47.2.9:25", Banner: exo},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "UnknownCredentials", Start: at(3), Condensed: true},
		checktest.Session{Connector: "To partner", Remote: "198.51.100.7:25", Banner: "mx.partner.example ESMTP", Failure: "SocketError", Start: at(4),
			Reply: "421 4.4.2 Connection dropped due to SocketError"},
		checktest.Session{Connector: "No TLS", Remote: "198.51.100.8:25", Start: at(5), NoStartTLS: true},
		checktest.Session{Connector: "No cert", Remote: "198.51.100.9:25", Start: at(6), Reply: "454 4.7.5 The certificate specified in TlsCertificateName of the SendConnector could not be found."},
		checktest.Session{Connector: "Required", Remote: "198.51.100.9:25", Start: at(7), NoStartTLS: true, Reply: "451 5.7.3 Must issue a STARTTLS command first"},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpB, SentSubject: "CN=edge01", SentIssuer: "CN=edge01", Start: at(10), Banner: exo,
			Reply: "550 5.7.323 tlsa-invalid: The domain failed DANE validation"},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpB, Start: at(9), Remote: "104.47.9.9:25", Banner: exo},
	)
	for _, tc := range []struct {
		name, file string
		data       []byte
		maxGroups  int
	}{
		{"rules", "SEND20190502-1.log", rules, 0},
		{"rules, 2 groups", "SEND20190502-1.log", rules, 2},
		{"receive", "RECV20190502-1.log", checktest.ReceiveLog(checktest.Session{Connector: "EDGE01\\Default", NoStartTLS: true, Start: at(1)},
			checktest.Session{Connector: "EDGE01\\Default", Failure: "NoCredentials", SentThumbprint: tpA, Start: at(2)}), 0},
		{"generated send", "SEND20190502-1.log", loggen.Generate(loggen.Options{Sessions: 3000, Interleave: 50, Seed: 9, PartnerFails: true}), 0},
		{"generated send, 16 groups", "SEND20190502-1.log", loggen.Generate(loggen.Options{Sessions: 3000, Interleave: 50, Seed: 10, PartnerFails: true}), 16},
		{"generated receive", "RECV20190502-1.log", loggen.Generate(loggen.Options{Receive: true, Sessions: 2000, Interleave: 30, Seed: 11}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole, view, parsed := windowViews(t, tc.data, tc.file, tc.maxGroups)
			if view != whole {
				t.Fatalf("window fed CheckView sessions differs:\nview  %s\nwhole %s", view, whole)
			}
			if parsed != whole {
				t.Fatalf("window fed a CheckView parse differs:\nparsed %s\nwhole  %s", parsed, whole)
			}
		})
	}
}

// FuzzWindowReadsCheckView: on any log.
func FuzzWindowReadsCheckView(f *testing.F) {
	f.Add(checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials"},
		checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpB}), false)
	f.Add(checktest.ReceiveLog(checktest.Session{Connector: "EDGE01\\Default", NoStartTLS: true}), true)
	f.Add(loggen.Generate(loggen.Options{Sessions: 20, Interleave: 5, Seed: 1, PartnerFails: true}), false)
	f.Fuzz(func(t *testing.T, data []byte, receive bool) {
		name := "SEND20200101-1.log"
		if receive {
			name = "RECV20200101-1.log"
		}
		whole, view, parsed := windowViews(t, data, name, 4)
		if view != whole || parsed != whole {
			t.Fatalf("on %q:\nwhole  %s\nview   %s\nparsed %s", data, whole, view, parsed)
		}
	})
}
