package cli

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/config"
)

// The body limits reach the node, and values the API could not honour are
// refused with the key's name.
func TestHTTPBodyLimitKeys(t *testing.T) {
	load := func(t *testing.T) config.Controller {
		var c config.Controller
		if err := config.Load(config.ControllerKeys(), "", nil, &c); err != nil {
			t.Fatal(err)
		}
		c.Insecure = true
		return c
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := load(t)
	nc, err := nodeConfig(c, log)
	if err != nil {
		t.Fatal(err)
	}
	if l := nc.BodyLimits; l.MaxBytes != 1<<20 || l.MaxRestoreBytes != 1<<30 || l.Timeout != 30*time.Second {
		t.Errorf("defaults: %+v", l)
	}
	if nc.TLSRPTExpireAfter != 72*time.Hour {
		t.Errorf("TLS-RPT expiry from the default tlsrpt.stale_grace: %v, want 24 h + 48 h", nc.TLSRPTExpireAfter)
	}
	c.TLSRPT.StaleGrace = 6 * time.Hour
	if nc, err := nodeConfig(c, log); err != nil || nc.TLSRPTExpireAfter != 30*time.Hour {
		t.Errorf("tlsrpt.stale_grace 6h: %v %v", nc.TLSRPTExpireAfter, err)
	}
	c = load(t)
	for _, tc := range []struct {
		key string
		set func(*config.Controller)
	}{
		{"http.max_body_bytes", func(c *config.Controller) { c.HTTP.MaxBodyBytes = 16 << 20 }},
		{"http.max_body_bytes", func(c *config.Controller) { c.HTTP.MaxBodyBytes = 0 }},
		{"http.max_restore_bytes", func(c *config.Controller) { c.HTTP.MaxRestoreBytes = -1 }},
		{"http.body_timeout", func(c *config.Controller) { c.HTTP.BodyTimeout = 0 }},
		{"tlsrpt.stale_grace", func(c *config.Controller) { c.TLSRPT.StaleGrace = -time.Hour }},
		{"tlsrpt.stale_grace", func(c *config.Controller) { c.TLSRPT.StaleGrace = 0 }},
	} {
		c := load(t)
		tc.set(&c)
		if _, err := nodeConfig(c, log); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s out of range: %v", tc.key, err)
		}
	}
}
