package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mxprobe.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceDefaultsFileEnvFlags(t *testing.T) {
	file := writeFile(t, "data_dir: /from/file\nraft:\n  listen: 10.0.0.1:1\nplan:\n  interval: 45s\n  probe_targets: [smtp://a:25, smtp://b:25]\n")
	t.Setenv("MXPROBE_RAFT_LISTEN", "10.0.0.2:2")
	t.Setenv("MXPROBE_PLAN_JITTER", "3s")
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, ControllerKeys())
	if err := fs.Parse([]string{"--grpc-listen", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	var c Controller
	if err := Load(ControllerKeys(), file, fs, &c); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/file" {
		t.Errorf("data_dir = %q, want file value", c.DataDir)
	}
	if c.Raft.Listen != "10.0.0.2:2" {
		t.Errorf("raft.listen = %q, want env to beat file", c.Raft.Listen)
	}
	if c.GRPC.Listen != "127.0.0.1:9" {
		t.Errorf("grpc.listen = %q, want flag", c.GRPC.Listen)
	}
	if c.HTTP.Listen != ":7401" {
		t.Errorf("http.listen = %q, want default", c.HTTP.Listen)
	}
	if c.Plan.Interval != 45*time.Second || c.Plan.Jitter != 3*time.Second {
		t.Errorf("plan = %v/%v", c.Plan.Interval, c.Plan.Jitter)
	}
	if len(c.Plan.ProbeTargets) != 2 || c.Plan.ProbeTargets[1] != "smtp://b:25" {
		t.Errorf("probe_targets = %v", c.Plan.ProbeTargets)
	}
}

func TestEnvListIsCommaSeparated(t *testing.T) {
	t.Setenv("MXPROBE_PROBE", "smtp://a:25, smtp://b:2525")
	var a Agent
	if err := Load(AgentKeys(), "", nil, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Probes) != 2 || a.Probes[1] != "smtp://b:2525" {
		t.Fatalf("probes = %#v", a.Probes)
	}
	if a.Expiry.Warning != 30*24*time.Hour {
		t.Fatalf("expiry.warning default = %v", a.Expiry.Warning)
	}
}

func TestUnknownKeyInFileIsAnError(t *testing.T) {
	file := writeFile(t, "data_dir: x\nraft:\n  listn: 1.2.3.4:5\n")
	var c Controller
	err := Load(ControllerKeys(), file, nil, &c)
	if !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("raft.listn")) {
		t.Fatalf("error does not name the key: %v", err)
	}
}

func TestBadValueIsAnError(t *testing.T) {
	file := writeFile(t, "plan:\n  interval: often\n")
	var c Controller
	if err := Load(ControllerKeys(), file, nil, &c); err == nil {
		t.Fatal("accepted plan.interval: often")
	}
}

func TestEveryStructFieldHasAKey(t *testing.T) {
	// Decoding defaults with ErrorUnused catches keys without fields; this
	// catches fields without keys: a field left zero after loading defaults
	// that have non-zero values would show up in the docs test instead.
	for name, keys := range map[string][]Key{"controller": ControllerKeys(), "agent": AgentKeys()} {
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k.Name] {
				t.Errorf("%s: key %s declared twice", name, k.Name)
			}
			seen[k.Name] = true
			if k.Help == "" {
				t.Errorf("%s: key %s undocumented", name, k.Name)
			}
		}
	}
	var c Controller
	if err := Load(ControllerKeys(), "", nil, &c); err != nil {
		t.Fatal(err)
	}
	var a Agent
	if err := Load(AgentKeys(), "", nil, &a); err != nil {
		t.Fatal(err)
	}
}

func TestConfigurationDocIsFresh(t *testing.T) {
	var want bytes.Buffer
	if err := WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("%v (regenerate: go run ./internal/config/cmd/gendoc > docs/configuration.md)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/configuration.md is stale: go run ./internal/config/cmd/gendoc > docs/configuration.md")
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, Log{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown")
	if bytes.Contains(buf.Bytes(), []byte("hidden")) || !bytes.Contains(buf.Bytes(), []byte(`"msg":"shown"`)) {
		t.Fatalf("log output %q", buf.String())
	}
	if _, err := NewLogger(&buf, Log{Level: "loud"}); err == nil {
		t.Fatal("accepted level loud")
	}
}

func TestRepeatableFlagKeepsCommas(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, AgentKeys())
	if err := fs.Parse([]string{"--cert-store", "pemdir:/a,b", "--cert-store", "snapshot:/c.json"}); err != nil {
		t.Fatal(err)
	}
	var a Agent
	if err := Load(AgentKeys(), "", fs, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.CertStores) != 2 || a.CertStores[0] != "pemdir:/a,b" {
		t.Fatalf("cert_store = %#v", a.CertStores)
	}
}

// Address lists split on commas on the command line as in the environment:
// --controllers a,b,c was one address "a,b,c" ("too many colons").
func TestAddressListFlagSplitsOnCommas(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs, AgentKeys())
	if err := fs.Parse([]string{"--controllers", "c1:7400,c2:7400", "--controllers", "c3:7400", "--roles", "edge,mailbox"}); err != nil {
		t.Fatal(err)
	}
	var a Agent
	if err := Load(AgentKeys(), "", fs, &a); err != nil {
		t.Fatal(err)
	}
	if strings.Join(a.Controllers, " ") != "c1:7400 c2:7400 c3:7400" || strings.Join(a.Roles, " ") != "edge mailbox" {
		t.Fatalf("controllers = %#v, roles = %#v", a.Controllers, a.Roles)
	}
	cfs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(cfs, ControllerKeys())
	if err := cfs.Parse([]string{"--retry-join", "n1:7400,n2:7400"}); err != nil {
		t.Fatal(err)
	}
	var c Controller
	if err := Load(ControllerKeys(), "", cfs, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.RetryJoin) != 2 || c.RetryJoin[1] != "n2:7400" {
		t.Fatalf("retry_join = %#v", c.RetryJoin)
	}
}
