package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

func TestTLSRPTReceiverBoundsAndAccepts(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	h := NewTLSRPTHandler(TLSRPTConfig{Now: func() time.Time { return now }, Burst: 3, PerClient: 0.001, Submit: func(_ context.Context, r *mxv1.TLSReport) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		dup := seen[r.GetReportId()]
		seen[r.GetReportId()] = true
		return dup, nil
	}})
	sample, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(ctype string, body []byte, ip string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, TLSRPTPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.RemoteAddr = ip + ":40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(sample)
	zw.Close()
	if w := post("application/tlsrpt+gzip", gz.Bytes(), "192.0.2.1"); w.Code != http.StatusCreated {
		t.Fatalf("gzip: %d %s", w.Code, w.Body)
	}
	if w := post("application/tlsrpt+json", sample, "192.0.2.1"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate") {
		t.Fatalf("duplicate: %d %s", w.Code, w.Body)
	}
	if w := post("application/json", sample, "192.0.2.2"); w.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("content type: %d", w.Code)
	}
	// JSON is bounded as tlsrpt parses it, gzip on the wire.
	if w := post("application/tlsrpt+json", bytes.Repeat([]byte(" "), tlsrpt.MaxReportBytes+1), "192.0.2.3"); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized JSON: %d", w.Code)
	}
	if w := post("application/tlsrpt+gzip", bytes.Repeat([]byte{0x1f}, tlsrpt.MaxCompressedBytes+1), "192.0.2.6"); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized gzip: %d", w.Code)
	}
	// A gzip bomb: small on the wire, huge inflated.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write([]byte("{"))
	zw.Write(make([]byte, 16<<20))
	zw.Close()
	if w := post("application/tlsrpt+gzip", gz.Bytes(), "192.0.2.4"); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("bomb: %d %s", w.Code, w.Body)
	}
	if w := post("application/tlsrpt+json", []byte(`{"report-id":1}`), "192.0.2.5"); w.Code != http.StatusBadRequest {
		t.Fatalf("invalid: %d", w.Code)
	}
	// Rate: the burst of 3 per client is spent by 192.0.2.1 after one more.
	post("application/tlsrpt+json", sample, "192.0.2.1")
	if w := post("application/tlsrpt+json", sample, "192.0.2.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("rate limit: %d", w.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/incidents", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusNotFound {
		t.Fatalf("other paths: %d", w.Code)
	}
}
