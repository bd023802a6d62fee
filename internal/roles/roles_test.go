package roles

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mxprobe/mxprobe/"

// harnesses are the packages outside internal/agent and internal/controller
// that put both roles (or a role and its lab) together on purpose; no
// binary a customer runs links them.
var harnesses = []string{"cmd", "internal/demo", "internal/e2e", "internal/bench", "internal/clusterpki", "internal/lab"}

func under(pkg, dir string) bool {
	p := module + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestSharedPackagesBelongToNoRole keeps the packages both roles link
// (the certificate and Exchange models, the certificate and connector
// rules, the pre-flight, DANE, the finding catalog, ...) free of either
// role: a package outside internal/agent, internal/controller and the
// harnesses imports, directly or not, nothing from internal/agent or
// internal/controller, and its tests import neither directly. Otherwise one binary would link the other's code
// as soon as it used the shared package.
func TestSharedPackagesBelongToNoRole(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list dependencies with")
	}
	// Their tests too: a shared package is tested without either role.
	list := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}`, module+"...")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var shared []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || roleOrHarness(f[0]) {
			continue
		}
		shared = append(shared, f[0])
		for _, imp := range f[1:] {
			if under(imp, "internal/agent") || under(imp, "internal/controller") {
				t.Errorf("tests of shared package %s import %s", strings.TrimPrefix(f[0], module), strings.TrimPrefix(imp, module))
			}
		}
	}
	if len(shared) == 0 {
		t.Fatal("no shared packages found")
	}
	for _, goos := range []string{"linux", "windows"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", append([]string{"list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`}, shared...)...)
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps: %v", err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				pkg, imports, _ := strings.Cut(line, " ")
				if roleOrHarness(pkg) {
					continue
				}
				for _, imp := range strings.Fields(imports) {
					if under(imp, "internal/agent") || under(imp, "internal/controller") {
						t.Errorf("shared package %s imports %s", strings.TrimPrefix(pkg, module), strings.TrimPrefix(imp, module))
					}
				}
			}
		})
	}
}

func roleOrHarness(pkg string) bool {
	if under(pkg, "internal/agent") || under(pkg, "internal/controller") {
		return true
	}
	for _, h := range harnesses {
		if under(pkg, h) {
			return true
		}
	}
	return false
}

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
