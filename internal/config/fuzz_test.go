package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// FuzzParseDuration: every duration a file, the environment, a flag or a
// CLI filter (--expiring-within 30d) carries either is refused or has the
// sign it was written with, and FormatDuration writes it back in a form
// that parses to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"90s", "15m", "720h", "30d", "1d12h", "1.5d", "0", "-2m", "10", "d", "3dd", "1d-2h", "99999999999d",
		"106751d", "106751.99116730063d", "106751d23h47m16s", "2562047h47m16.854775807s", "+5m", "--5m", "1e3d", "0x10d", ".5d", "NaNd", "Infd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if neg := strings.HasPrefix(strings.TrimSpace(s), "-"); (d < 0) != (neg && d != 0) {
			t.Fatalf("%q parsed as %v", s, d)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, FormatDuration(d), back, err)
		}
	})
}

// FuzzLoadController: a controller configuration file is refused with an
// error or loads; unknown keys are always refused, never ignored, and no
// duration is ever unit-less nanoseconds.
func FuzzLoadController(f *testing.F) {
	for _, s := range []string{
		"node_id: c1\ndata_dir: /var/lib/mxprobe\nraft:\n  snapshot_threshold: 100\n",
		"http:\n  max_body_bytes: 2097152\n  body_timeout: 1m\nplan:\n  interval: 30s\n  probe_targets: [smtp://mx:25]\n",
		"correlation:\n  retention: 30d\n",
		"notify:\n  timeout: 10\n", "unknown_key: 1\n", "raft: [1, 2]\n", "plan:\n  interval: {a: b}\n",
		"a: &x [*x]\n", "retry_join: c2:7400,c3:7400\n", "\xff\xfe", "{\"node_id\": 5}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(tempdir.New(t), "controller.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var c Controller
		err := Load(ControllerKeys(), path, nil, &c)
		if err != nil {
			return
		}
		for _, d := range []time.Duration{c.Plan.Interval, c.Plan.Jitter, c.Correlation.Retention, c.Notify.Timeout, c.HTTP.BodyTimeout} {
			if d > 0 && d < time.Microsecond {
				t.Fatalf("duration %v loaded (a unit-less number?)", d)
			}
		}
		if strings.HasPrefix(string(data), "unknown_key:") {
			t.Fatal("an unknown key was accepted")
		}
	})
}

// FuzzLoadAgent: the same for an agent's configuration file (it may be
// edited by hand on every Exchange server).
func FuzzLoadAgent(f *testing.F) {
	for _, s := range []string{
		"agent_id: edge01\nsite: amsterdam\ncontrollers: [ctl1:7400, ctl2:7400]\ncert_store: ['windows:LocalMachine\\My']\n",
		"expiry:\n  warning: 30d\n  error: 7d\nprotocol_log_window: 1h\nspool_max_bytes: 1048576\n",
		"probe: smtp://mx.contoso.com:25\nprobe_timeout: 15\n", "interval: -5m\n", "log:\n  level: loud\n", "roles: edge\n",
		"expiry: 30d\n", "\t- x", "ack_timeout: NaNd\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(tempdir.New(t), "agent.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		var a Agent
		if err := Load(AgentKeys(), path, nil, &a); err != nil {
			return
		}
		for _, d := range []time.Duration{a.AckTimeout, a.ProbeTimeout, a.Expiry.Warning, a.Expiry.Error, a.ProtocolLogWindow, a.EventLogWindow, a.Interval} {
			if d > 0 && d < time.Microsecond {
				t.Fatalf("duration %v loaded (a unit-less number?)", d)
			}
		}
	})
}
