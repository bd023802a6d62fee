package doctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository checkout this test runs in.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", dir, err)
	}
	return dir
}

// TestScriptRunsEveryModule runs scripts/test.sh with a stand-in `go` whose
// module tests fail on demand: every module runs even when an earlier one
// failed, each one's result is reported, and the exit status is non-zero
// when any failed.
func TestScriptRunsEveryModule(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "test.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name             string
		rootRC, helmRC   string
		wantExit         int
		wantOK, wantFail []string
	}{
		{"product module fails", "1", "0", 1, []string{"deploy/helm/test"}, []string{"github.com/mxprobe/mxprobe"}},
		{"helm module fails", "0", "3", 1, []string{"github.com/mxprobe/mxprobe"}, []string{"deploy/helm/test"}},
		{"both pass", "0", "0", 0, []string{"github.com/mxprobe/mxprobe", "deploy/helm/test"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"scripts", "deploy/helm/test", "bin"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, "scripts", "test.sh"), script, 0o755); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "go.log")
			fakeGo := `#!/bin/sh
echo "$*" >> "$FAKE_GO_LOG"
case "$1" in
  -C) exit "$FAKE_HELM_RC" ;;
  test) exit "$FAKE_ROOT_RC" ;;
esac
exit 0
`
			if err := os.WriteFile(filepath.Join(dir, "bin", "go"), []byte(fakeGo), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join(dir, "scripts", "test.sh"), "-run", "TestX")
			cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"),
				"MXPROBE_TEST_NO_INSTALL=1", "FAKE_GO_LOG="+log, "FAKE_ROOT_RC="+c.rootRC, "FAKE_HELM_RC="+c.helmRC)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.wantExit {
				t.Errorf("exit %d, want %d\n%s", code, c.wantExit, out)
			}
			calls, _ := os.ReadFile(log)
			if !strings.Contains(string(calls), "test -race -count=1 -timeout 10m -run TestX ./...") || !strings.Contains(string(calls), "-C deploy/helm/test test") {
				t.Errorf("not every module ran; go was called with:\n%s", calls)
			}
			i := strings.LastIndex(string(out), "== results")
			if i < 0 {
				t.Fatalf("no results section:\n%s", out)
			}
			results := string(out[i:])
			for _, m := range c.wantOK {
				if !containsLine(results, "ok", m) {
					t.Errorf("results do not report %s ok:\n%s", m, results)
				}
			}
			for _, m := range c.wantFail {
				if !containsLine(results, "FAILED", m) {
					t.Errorf("results do not report %s FAILED:\n%s", m, results)
				}
			}
		})
	}
}

func containsLine(s, status, module string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), status+" ") && strings.Contains(l, module) {
			return true
		}
	}
	return false
}
