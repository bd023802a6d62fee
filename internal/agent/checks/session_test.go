package checks

import (
	"context"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// A live probe reports the TLS session it negotiated with a real STARTTLS
// server; a server without STARTTLS reports none.
func TestProbeReportsNegotiatedTLS(t *testing.T) {
	ca := newCA(t)
	b, err := NewBuilder(Spec{CAFile: writeCAFile(t, ca), ExpectName: "localhost", ProbeTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	good := startLab(t, lab.Good, ca)
	plain := startLab(t, lab.NoStartTLS, ca)
	var cs []Check
	for _, s := range []string{good.Addr(), plain.Addr()} {
		c, err := b.Probe("smtp://"+s, 0)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	res := RunAll(context.Background(), cs, 2)
	if r := res[0]; r.GetStatus() != mxv1.CheckStatus_CHECK_STATUS_OK || r.GetTls().GetVersion() != "TLS 1.3" || r.GetTls().GetCipherSuite() == "" {
		t.Fatalf("good server: status %v tls %v", r.GetStatus(), r.GetTls())
	}
	if r := res[1]; r.GetTls() != nil {
		t.Fatalf("server without STARTTLS reported a session: %v", r.GetTls())
	}
}
