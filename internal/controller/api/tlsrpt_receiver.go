package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// TLSRPTPath is where senders POST reports (RFC 8460 section 3, the https
// rua method).
const TLSRPTPath = "/v1/tlsrpt"

// TLSRPTConfig configures the TLS-RPT receiver.
type TLSRPTConfig struct {
	// Submit commits one parsed report; dup reports a known report-id.
	Submit func(ctx context.Context, r *mxv1.TLSReport) (dup bool, err error)
	// PerClient and Burst bound reports per second from one client IP
	// (default 1/s, burst 20); Global bounds all clients (default 20/s).
	PerClient, Global float64
	Burst             int
	// Now is the limiter's clock (default time.Now).
	Now func() time.Time
}

// NewTLSRPTHandler returns the receiver for POST /v1/tlsrpt. It is
// unauthenticated by design (RFC 8460 senders have no credentials), so it
// serves nothing else, reads at most tlsrpt.MaxCompressedBytes of a gzip
// body (which decompresses to at most tlsrpt.MaxReportBytes) and
// tlsrpt.MaxReportBytes of a JSON one, limits reports
// per client and in total before reading a body, and accepts only
// application/tlsrpt+json and application/tlsrpt+gzip. Mount it on its own
// listener (tlsrpt.listen) so it can be exposed without the API.
func NewTLSRPTHandler(cfg TLSRPTConfig) http.Handler {
	if cfg.PerClient <= 0 {
		cfg.PerClient = 1
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 20
	}
	if cfg.Global <= 0 {
		cfg.Global = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &tlsrptHandler{cfg: cfg, clients: map[string]*bucket{}, global: &bucket{tokens: float64(cfg.Burst) * 2}}
}

type tlsrptHandler struct {
	cfg     TLSRPTConfig
	mu      sync.Mutex
	clients map[string]*bucket
	global  *bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if !b.last.IsZero() {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxClients bounds the limiter's table; beyond it the table is reset
// (an attacker with many addresses then meets the global limit).
const maxClients = 10000

func (h *tlsrptHandler) allow(ip string) bool {
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.global.take(now, h.cfg.Global, h.cfg.Burst*2) {
		return false
	}
	if len(h.clients) >= maxClients {
		h.clients = map[string]*bucket{}
	}
	b := h.clients[ip]
	if b == nil {
		b = &bucket{tokens: float64(h.cfg.Burst)}
		h.clients[ip] = b
	}
	return b.take(now, h.cfg.PerClient, h.cfg.Burst)
}

func (h *tlsrptHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TLSRPTPath {
		http.Error(w, "not found: this listener only receives TLS-RPT reports at POST "+TLSRPTPath, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/tlsrpt+json" && mt != "application/tlsrpt+gzip" {
		http.Error(w, "Content-Type must be application/tlsrpt+json or application/tlsrpt+gzip", http.StatusUnsupportedMediaType)
		return
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if !h.allow(ip) {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "too many reports; retry later", http.StatusTooManyRequests)
		return
	}
	// A gzip body is bounded compressed (it decompresses to at most
	// tlsrpt.MaxReportBytes), a JSON one as the JSON tlsrpt accepts.
	limit := int64(tlsrpt.MaxReportBytes)
	if mt == "application/tlsrpt+gzip" {
		limit = tlsrpt.MaxCompressedBytes
	}
	if r.ContentLength > limit {
		http.Error(w, fmt.Sprintf("report larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("report larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	var rep *mxv1.TLSReport
	if mt == "application/tlsrpt+gzip" {
		var j []byte
		if j, err = tlsrpt.Gunzip(body); err == nil {
			rep, err = tlsrpt.ParseJSON(j)
		}
	} else {
		rep, err = tlsrpt.ParseJSON(body)
	}
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, tlsrpt.ErrTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		http.Error(w, err.Error(), code)
		return
	}
	rep.Source = "https"
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	dup, err := h.cfg.Submit(ctx, rep)
	if err != nil {
		w.Header().Set("Retry-After", "60")
		http.Error(w, "the report could not be stored now; retry later", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if dup {
		fmt.Fprintf(w, "duplicate report %s ignored\n", rep.GetReportId())
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "report %s accepted\n", rep.GetReportId())
}
