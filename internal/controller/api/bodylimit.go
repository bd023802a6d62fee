package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Request bodies on the HTTP port: who may make the node read one, how much
// of it and for how long. The grpc-gateway decodes a whole body before the
// gRPC interceptors see the call, so authentication (a valid token, whatever
// its scopes) happens here, before the first body byte is read; what the
// token may do is still decided per method by the gRPC interceptors.

// Defaults of BodyLimits.
const (
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxRestoreBytes = 1 << 30
	DefaultBodyTimeout     = 30 * time.Second
	DefaultRestoreTimeout  = 15 * time.Minute
)

// RestorePath is the route whose body BodyLimits.MaxRestoreBytes bounds.
const RestorePath = "/v1/cluster/restore"

// importPath takes a TLS-RPT report as base64 in JSON: the largest report
// tlsrpt accepts, so at least that much, whatever BodyLimits.MaxBytes says.
const (
	importPath      = "/v1/tlsrpt/reports:import"
	importBodyBytes = tlsrpt.MaxInputBytes/3*4 + 64<<10
)

// BodyLimits bounds request bodies on the HTTP port. Zero fields take the
// defaults.
type BodyLimits struct {
	// MaxBytes is the largest body of any route but RestorePath.
	MaxBytes int64
	// MaxRestoreBytes is the largest backup POST RestorePath accepts; the
	// upload is spooled to a file, not held in memory.
	MaxRestoreBytes int64
	// Timeout is how long a client has to send a body (from the end of its
	// headers); RestoreTimeout the same for RestorePath.
	Timeout, RestoreTimeout time.Duration
}

// WithDefaults fills zero fields.
func (l BodyLimits) WithDefaults() BodyLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBodyBytes
	}
	if l.MaxRestoreBytes <= 0 {
		l.MaxRestoreBytes = DefaultMaxRestoreBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultBodyTimeout
	}
	if l.RestoreTimeout <= 0 {
		l.RestoreTimeout = DefaultRestoreTimeout
	}
	return l
}

// bodyGuard sits in front of every handler on the HTTP port.
type bodyGuard struct {
	next http.Handler
	// authenticate checks the request's API token (nil: insecure mode).
	authenticate func(*http.Request) error
	limits       BodyLimits
}

// tokenRoute reports whether path is served to API tokens (the REST API,
// profiles, metrics), as opposed to the dashboard, whose forms carry their
// own credentials (a cookie, or the token itself on the login form) and
// bound their own bodies.
func tokenRoute(path string) bool {
	return strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/debug/") || path == "/metrics"
}

// hasBody reports whether the request announces a body (a Content-Length
// above zero or a chunked one).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

func (g *bodyGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hasBody(r) {
		g.next.ServeHTTP(w, r)
		return
	}
	limit, timeout := g.limits.MaxBytes, g.limits.Timeout
	restore := r.URL.Path == RestorePath
	switch {
	case restore:
		limit, timeout = g.limits.MaxRestoreBytes, g.limits.RestoreTimeout
	case r.URL.Path == importPath:
		limit = max(limit, importBodyBytes)
	}
	if tokenRoute(r.URL.Path) && g.authenticate != nil {
		if err := g.authenticate(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mxprobe"`)
			refuse(w, http.StatusUnauthorized, status.New(codes.Unauthenticated, err.Error()))
			return
		}
	}
	if r.ContentLength > limit {
		refuse(w, http.StatusRequestEntityTooLarge, tooLarge(limit, restore))
		return
	}
	// The server has no read timeout (event streams and restores are long):
	// this request's body must arrive within timeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if restore || !strings.HasPrefix(r.URL.Path, "/v1/") {
		// The restore handler spools to disk; the dashboard and profiles
		// read (or ignore) their bodies themselves, within the limit.
		g.next.ServeHTTP(w, r)
		return
	}
	// The gateway would answer a body cut off at the limit with a decoding
	// error: read it here (at most limit bytes) to answer 413 instead.
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			refuse(w, http.StatusRequestEntityTooLarge, tooLarge(limit, false))
		case errors.Is(err, os.ErrDeadlineExceeded):
			refuse(w, http.StatusRequestTimeout, status.Newf(codes.DeadlineExceeded, "request body not received within %s", timeout))
		default:
			refuse(w, http.StatusBadRequest, status.Newf(codes.InvalidArgument, "request body unreadable: %v", err))
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	g.next.ServeHTTP(w, r)
}

func tooLarge(limit int64, restore bool) *status.Status {
	key := "http.max_body_bytes"
	if restore {
		key = "http.max_restore_bytes"
	}
	return status.Newf(codes.InvalidArgument, "request body larger than %s (%s)", byteSize(limit), key)
}

// refuse answers without reading the rest of the body and closes the
// connection afterwards; the read deadline in the past keeps the server
// from draining what is left of the body first.
func refuse(w http.ResponseWriter, code int, st *status.Status) {
	dropBody(w)
	writeStatus(w, code, st)
}

// dropBody makes the server close the connection after this response
// instead of reading the rest of the request body.
func dropBody(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(-time.Second))
	w.Header().Set("Connection", "close")
}

// byteSize prints n in the largest binary unit that divides it.
func byteSize(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// spoolUpload copies an upload (already bounded by the guard) to a file in
// dir and returns its contents once complete, so a slow or abandoned
// upload holds disk, not memory; the HTTP status goes with the error.
func spoolUpload(body io.Reader, dir string) ([]byte, int, error) {
	f, err := os.CreateTemp(dir, "restore-*.upload")
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("spooling the backup: %w", err)
	}
	defer func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, body); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("backup larger than %s (http.max_restore_bytes)", byteSize(tooBig.Limit))
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, http.StatusRequestTimeout, errors.New("backup upload not received in time")
		default:
			return nil, http.StatusBadRequest, fmt.Errorf("backup upload: %w", err)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("spooling the backup: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("spooling the backup: %w", err)
	}
	return b, 0, nil
}
