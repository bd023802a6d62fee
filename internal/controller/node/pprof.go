package node

import (
	"net/http"
	"net/http/pprof"

	"github.com/mxprobe/mxprobe/internal/controller/auth"
)

// profiles serves Go's runtime profiles (debug.pprof) to admins only:
// they reveal memory contents' shapes and cost CPU to produce.
func profiles(adminAuth func(*http.Request) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminAuth != nil {
			if err := adminAuth(r); err != nil {
				auth.HTTPError(w, err)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}
