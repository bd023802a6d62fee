package roles

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mxprobe/mxprobe/"

func TestEachBinaryLinksOnlyItsRole(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list dependencies with")
	}
	for _, c := range []struct {
		binary, goos string
		forbidden    []string
	}{
		{"cmd/controller", "linux", []string{"internal/agent", "internal/lab"}},
		{"cmd/agent", "linux", []string{"internal/controller"}},
		{"cmd/agent", "windows", []string{"internal/controller"}},
	} {
		t.Run(c.binary+"/"+c.goos, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+c.binary)
			cmd.Env = append(os.Environ(), "GOOS="+c.goos, "GOARCH=amd64")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				pkg, imports, _ := strings.Cut(line, " ")
				for _, imp := range strings.Fields(imports) {
					for _, f := range c.forbidden {
						if p := module + f; imp == p || strings.HasPrefix(imp, p+"/") {
							t.Errorf("%s links %s: %s imports %s", c.binary, f, pkg, imp)
						}
					}
				}
			}
		})
	}
}
