package finding

import (
	"bytes"
	"os"
	"regexp"
	"testing"
)

var upperSnake = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

func TestCatalogCodesWellFormed(t *testing.T) {
	seen := map[Code]bool{}
	for _, e := range entries {
		if !upperSnake.MatchString(string(e.Code)) {
			t.Errorf("code %q is not upper-snake", e.Code)
		}
		if seen[e.Code] {
			t.Errorf("code %q listed twice", e.Code)
		}
		seen[e.Code] = true
		if e.Severity == 0 || e.Title == "" || e.Cause == "" || e.Fix == "" {
			t.Errorf("code %q lacks severity, title, cause or fix", e.Code)
		}
	}
}

func TestFindingsDocIsFresh(t *testing.T) {
	var want bytes.Buffer
	if err := Default().WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatalf("docs/findings.md: %v (regenerate: go run ./internal/finding/cmd/gendoc > docs/findings.md)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/findings.md is stale: go run ./internal/finding/cmd/gendoc > docs/findings.md")
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]string{"critical": "CRITICAL", "Error": "ERROR", "SEVERITY_WARNING": "WARNING", " info ": "INFO"} {
		s, err := ParseSeverity(in)
		if err != nil || SeverityName(s) != want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "unspecified", "fatal"} {
		if _, err := ParseSeverity(bad); err == nil {
			t.Errorf("ParseSeverity(%q) accepted", bad)
		}
	}
}

// Every code states the evidence it requires, and no evidence is kept for
// a code that is not in the catalog.
func TestEveryCodeStatesItsEvidence(t *testing.T) {
	c := Default()
	for _, e := range c.Entries() {
		if len(c.Evidence(e.Code)) < 40 {
			t.Errorf("%s: no evidence stated in evidence.go", e.Code)
		}
	}
	for code := range evidence {
		if _, ok := c.Lookup(code); !ok {
			t.Errorf("evidence.go names %s, which is not in the catalog", code)
		}
	}
}
