package notify

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/portalloc"
)

var amPorts portalloc.Allocator

// startAlertmanager runs the real Alertmanager (Debian's
// prometheus-alertmanager) on a loopback port; it skips when absent.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			t.Skip("Alertmanager not installed (scripts/test.sh installs Debian's prometheus-alertmanager)")
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := amPorts.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, &out}, lockedWriter{&mu, &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			mu.Lock()
			t.Logf("alertmanager output:\n%s", out.String())
			mu.Unlock()
		}
	})
	waitFor(t, "alertmanager ready", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return "http://" + addr
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []amAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var as []amAlert
	_ = json.NewDecoder(resp.Body).Decode(&as)
	return as
}

// TestAlertmanagerEndToEnd posts to the real Alertmanager: an open incident
// is an active alert with mxprobe's labels (instance = affected system,
// target for a remote-target incident, the configured cluster label) and a
// dashboard generatorURL; two clusters feeding one Alertmanager keep two
// alerts; resolving ends it; a reopen is a new alert starting at the reopen.
func TestAlertmanagerEndToEnd(t *testing.T) {
	am := startAlertmanager(t)
	s := openStore(t)
	cfg := testConfig()
	cfg.RunbookURL = "https://wiki.contoso.com/mail/{code}"
	cfg.Alertmanager = &AlertmanagerConfig{URL: am, ResendInterval: 200 * time.Millisecond, Labels: map[string]string{"cluster": "prod-eu"}}
	runSender(t, s, cfg)
	// A second mxprobe cluster (its own store) with the same incident.
	s2 := openStore(t)
	cfg2 := cfg
	cfg2.Alertmanager = &AlertmanagerConfig{URL: am, ResendInterval: 200 * time.Millisecond, Labels: map[string]string{"cluster": "prod-us"}}
	runSender(t, s2, cfg2)

	inc := remoteIncident()
	put(t, s, inc)
	put(t, s2, inc)
	byCluster := func(as []amAlert) map[string]amAlert {
		out := map[string]amAlert{}
		for _, a := range as {
			if a.Labels["fingerprint"] == inc.GetFingerprint() {
				out[a.Labels["cluster"]] = a
			}
		}
		return out
	}
	var got map[string]amAlert
	waitFor(t, "two active alerts in Alertmanager", func() bool {
		got = byCluster(amAlerts(t, am))
		return len(got) == 2 && got["prod-eu"].Status.State == "active" && got["prod-us"].Status.State == "active"
	})
	a := got["prod-eu"]
	if a.Labels["instance"] != "mx.fabrikam.com" || a.Labels["target"] != "smtp://mx.fabrikam.com:25" || a.Labels["severity"] != "critical" ||
		a.Labels["scope"] != "remote_target" || a.Labels["host"] != "" || a.GeneratorURL != "https://mxprobe.contoso.com/incidents/"+inc.GetId() ||
		a.Annotations["runbook_url"] != "https://wiki.contoso.com/mail/TLS_HANDSHAKE_FAILED" || !a.StartsAt.Equal(t0) {
		t.Fatalf("alert in Alertmanager: %+v", a)
	}
	if !a.EndsAt.After(time.Now()) {
		t.Fatalf("active alert endsAt %v is not ahead", a.EndsAt)
	}

	// Resolved: Alertmanager no longer lists it as active.
	act(t, s, inc.GetId(), mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE)
	waitFor(t, "the alert resolved in Alertmanager", func() bool {
		got = byCluster(amAlerts(t, am))
		eu, ok := got["prod-eu"]
		return (!ok || !eu.EndsAt.After(time.Now())) && got["prod-us"].Status.State == "active"
	})

	// Reopened: a new alert, starting at the reopen.
	time.Sleep(1100 * time.Millisecond) // a later second than the old alert's endsAt
	reopenAt := time.Now().UTC().Truncate(time.Second)
	re := proto.CloneOf(s.State().Incident(inc.GetId()))
	re.State, re.ResolvedAt = mxv1.IncidentState_INCIDENT_STATE_OPEN, nil
	re.Timeline = append(re.Timeline, &mxv1.TimelineEntry{At: timestamppb.New(reopenAt), Kind: incident.KindReopened})
	put(t, s, re)
	waitFor(t, "the reopened alert active again", func() bool {
		got = byCluster(amAlerts(t, am))
		eu := got["prod-eu"]
		return eu.Status.State == "active" && eu.EndsAt.After(time.Now())
	})
	if eu := got["prod-eu"]; !eu.StartsAt.Equal(reopenAt) {
		t.Fatalf("reopened alert startsAt %v, want the reopen %v", eu.StartsAt, reopenAt)
	}
}
