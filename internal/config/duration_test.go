package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"90s", 90 * time.Second}, {"15m", 15 * time.Minute}, {"720h", 720 * time.Hour},
		{"30d", 30 * day}, {"1d12h", 36 * time.Hour}, {"1.5d", 36 * time.Hour}, {"0", 0}, {"0s", 0},
		{" 7d ", 7 * day}, {"-2m", -2 * time.Minute},
	} {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"10", "1.5", "-3", "", "d", "often", "3dd", "1d-2h", "99999999999d"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
	if _, err := ParseDuration("10"); !errors.Is(err, ErrNoUnit) || !strings.Contains(err.Error(), "10d") {
		t.Errorf("unit-less error %v: want ErrNoUnit suggesting units", err)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * day: "30d", 24 * time.Hour: "1d", time.Hour: "1h", 90 * time.Minute: "1h30m", time.Minute: "1m",
		90 * time.Second: "1m30s", 250 * time.Millisecond: "250ms", 0: "0s", 36 * time.Hour: "36h",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("round trip of %v: %v, %v", d, back, err)
		}
	}
}

// A duration without a unit is refused with the key's name wherever it is
// written (file, env, flag); 0 is accepted; d (days) is accepted everywhere.
func TestUnitlessDurationsRejectedEverywhere(t *testing.T) {
	file := writeFile(t, "expiry:\n  warning: 10\n")
	var a Agent
	err := Load(AgentKeys(), file, nil, &a)
	if !errors.Is(err, ErrNoUnit) || !strings.Contains(err.Error(), "expiry.warning") || !strings.Contains(err.Error(), "MXPROBE_EXPIRY_WARNING") {
		t.Fatalf("YAML warning: 10 gave %v (warning %v); want ErrNoUnit naming the key", err, a.Expiry.Warning)
	}
	file = writeFile(t, "expiry:\n  warning: 2.5\n")
	if err := Load(AgentKeys(), file, nil, &a); !errors.Is(err, ErrNoUnit) {
		t.Fatalf("YAML warning: 2.5 gave %v", err)
	}

	t.Run("env", func(t *testing.T) {
		t.Setenv("MXPROBE_PLAN_INTERVAL", "60")
		var c Controller
		if err := Load(ControllerKeys(), "", nil, &c); !errors.Is(err, ErrNoUnit) || !strings.Contains(err.Error(), "plan.interval") {
			t.Fatalf("MXPROBE_PLAN_INTERVAL=60 gave %v", err)
		}
	})
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, AgentKeys())
	if err := fs.Parse([]string{"--expiry-error", "7"}); err == nil || !strings.Contains(err.Error(), "no unit") {
		t.Fatalf("--expiry-error 7 gave %v", err)
	}

	file = writeFile(t, "expiry:\n  warning: 45d\n  error: 0\nprotocol_log_window: 1d12h\n")
	t.Setenv("MXPROBE_INTERVAL", "2m")
	fs = pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, AgentKeys())
	if err := fs.Parse([]string{"--probe-timeout", "1m30s"}); err != nil {
		t.Fatal(err)
	}
	a = Agent{}
	if err := Load(AgentKeys(), file, fs, &a); err != nil {
		t.Fatal(err)
	}
	if a.Expiry.Warning != 45*day || a.Expiry.Error != 0 || a.ProtocolLogWindow != 36*time.Hour || a.Interval != 2*time.Minute || a.ProbeTimeout != 90*time.Second {
		t.Fatalf("durations %+v / %v / %v / %v", a.Expiry, a.ProtocolLogWindow, a.Interval, a.ProbeTimeout)
	}
	fs = pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, ControllerKeys())
	if err := fs.Parse([]string{"--agent-ca-cert-ttl", "3d"}); err != nil {
		t.Fatal(err)
	}
	var c Controller
	if err := Load(ControllerKeys(), "", fs, &c); err != nil || c.AgentCA.CertTTL != 3*day {
		t.Fatalf("--agent-ca-cert-ttl 3d: %v, %v", c.AgentCA.CertTTL, err)
	}
	if got := fs.Lookup("correlation-retention").DefValue; got != "7d" {
		t.Errorf("help shows default %q, want 7d", got)
	}
}
