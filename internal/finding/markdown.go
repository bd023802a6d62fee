package finding

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown renders the catalog as docs/findings.md.
func (c *Catalog) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Finding codes\n\n")
	b.WriteString("Generated from `internal/finding/catalog.go` by `go run ./internal/finding/cmd/gendoc > docs/findings.md`; do not edit by hand.\n\n")
	b.WriteString("Codes are stable: never renamed or reused. Severity is the default; a rule may raise it (e.g. CERT_EXPIRING becomes ERROR inside the error window). ")
	b.WriteString("Evidence is what a finding with the code requires before it is raised: the input it comes from and the condition on it; a rule that cannot show it says what it knows with another code or a lower severity. ")
	b.WriteString("`Catalog` refers to the rows of the Exchange TLS failure catalog (A-K) in the domain reference. Each finding's `remediation` names the exact object (thumbprint, connector, host) in place of the placeholders below.\n\n")
	b.WriteString("| code | severity | what | catalog |\n|---|---|---|---|\n")
	for _, e := range c.Entries() {
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s |\n", e.Code, strings.ToLower(string(e.Code)), SeverityName(e.Severity), e.Title, e.Catalog)
	}
	for _, e := range c.Entries() {
		fmt.Fprintf(&b, "\n## %s\n\n%s. Default severity **%s**.\n\n- Evidence: %s\n- Cause: %s\n- Fix: %s\n", e.Code, e.Title, SeverityName(e.Severity), c.Evidence(e.Code), e.Cause, e.Fix)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
