package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/gen/openapi"
	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// HTTPConfig wires the HTTP handler.
type HTTPConfig struct {
	// Conn reaches this node's own gRPC server: REST calls go through it so
	// that authentication, rate limits and forwarding are the gRPC ones.
	Conn *grpc.ClientConn
	// MetricsAuth, when set, guards /metrics (nil: public).
	MetricsAuth func(*http.Request) error
	// Ready reports whether this node can serve (knows a leader, caught up).
	Ready func() error
	// Gatherer serves /metrics; nil disables it.
	Gatherer prometheus.Gatherer
	// Extra handlers mounted on the same mux (e.g. the dashboard at "/").
	Extra map[string]http.Handler
	// Backup and Restore serve /v1/cluster/backup and /v1/cluster/restore,
	// guarded by AdminAuth (nil: open, insecure mode).
	Backup    func(ctx context.Context) ([]byte, error)
	Restore   func(ctx context.Context, backup []byte) error
	AdminAuth func(*http.Request) error
	// RestoreCheck, when set, is asked before a restore upload is read
	// (this node must lead); RestoreDir receives the upload ("" the
	// system's temporary directory).
	RestoreCheck func() error
	RestoreDir   string
	// Authenticate checks a request's API token before any body on the
	// API routes is read (nil: insecure mode, no check); Limits bounds
	// bodies (bodylimit.go).
	Authenticate func(*http.Request) error
	Limits       BodyLimits
	// EventsHeartbeat is the SSE comment interval on /v1/events:stream
	// (default 15s); MaxEventStreams bounds concurrent SSE streams (32).
	EventsHeartbeat time.Duration
	MaxEventStreams int
}

// NewHTTPHandler returns the HTTP API: REST gateway under /v1/, /openapi.json,
// /healthz, /readyz and /metrics.
func NewHTTPHandler(ctx context.Context, cfg HTTPConfig) (http.Handler, error) {
	gw := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: false, EmitDefaultValues: true}, // empty lists are [], zero scalars present; unset messages absent
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}), runtime.WithForwardResponseOption(forwardResponse), runtime.WithErrorHandler(errorHandler))
	if err := mxv1.RegisterControllerServiceHandler(ctx, gw, cfg.Conn); err != nil {
		return nil, fmt.Errorf("api: register gateway: %w", err)
	}
	if err := mxv1.RegisterAuthServiceHandler(ctx, gw, cfg.Conn); err != nil {
		return nil, fmt.Errorf("api: register gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", &restIncidents{next: gw, keys: newIdempotencyCache()})
	mux.Handle("GET /v1/events:stream", newSSEHandler(ctx, cfg.Conn, cfg.EventsHeartbeat, cfg.MaxEventStreams))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openapi.JSON)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if cfg.Gatherer != nil {
		metrics := promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			if cfg.MetricsAuth != nil {
				if err := cfg.MetricsAuth(r); err != nil {
					auth.HTTPError(w, err)
					return
				}
			}
			metrics.ServeHTTP(w, r)
		})
	}
	admin := func(w http.ResponseWriter, r *http.Request) bool {
		if cfg.AdminAuth == nil {
			return true
		}
		if err := cfg.AdminAuth(r); err != nil {
			auth.HTTPError(w, err)
			return false
		}
		return true
	}
	if cfg.Backup != nil {
		mux.HandleFunc("GET /v1/cluster/backup", func(w http.ResponseWriter, r *http.Request) {
			if !admin(w, r) {
				return
			}
			b, err := cfg.Backup(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", `attachment; filename="mxprobe-backup.pb"`)
			_, _ = w.Write(b)
		})
	}
	if cfg.Restore != nil {
		mux.HandleFunc("POST /v1/cluster/restore", func(w http.ResponseWriter, r *http.Request) {
			if !admin(w, r) {
				dropBody(w)
				return
			}
			if cfg.RestoreCheck != nil {
				if err := cfg.RestoreCheck(); err != nil {
					dropBody(w)
					http.Error(w, err.Error(), http.StatusServiceUnavailable)
					return
				}
			}
			b, code, err := spoolUpload(r.Body, cfg.RestoreDir)
			if err != nil {
				dropBody(w)
				http.Error(w, err.Error(), code)
				return
			}
			if err := cfg.Restore(r.Context(), b); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("{}\n"))
		})
	}
	for pattern, h := range cfg.Extra {
		mux.Handle(pattern, h)
	}
	return &bodyGuard{next: mux, authenticate: cfg.Authenticate, limits: cfg.Limits.WithDefaults()}, nil
}
