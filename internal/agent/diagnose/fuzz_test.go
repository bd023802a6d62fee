package diagnose

import (
	"bytes"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/certdiag"
)

// FuzzLogWindowLoad: a corrupt persisted window is an error, never a panic,
// and a loaded window always yields findings.
func FuzzLogWindowLoad(f *testing.F) {
	w := NewLogWindow(0, 0)
	for _, s := range parseLog(f, checktest.SendLog(checktest.Session{Connector: "Outbound to Office 365", SentThumbprint: tpA, Failure: "NoCredentials"})) {
		w.Add(s)
	}
	var b bytes.Buffer
	if err := w.Save(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"version":1,"groups":[{"kind":"tls-failed","count":-5}],"sent":null}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		w := NewLogWindow(8, 0)
		if err := w.Load(bytes.NewReader(data)); err != nil {
			return
		}
		_ = ProtocolLog(w, certdiag.ExpectedSent{"outbound to office 365": {Thumbprint: tpB}}, Options{})
		if w.Len() > 8 {
			t.Fatalf("window over its bound: %d", w.Len())
		}
	})
}
