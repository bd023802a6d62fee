package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Exit codes of `agent check`.
const (
	ExitOK       = 0 // nothing at error or above
	ExitRuntime  = 1 // usage or runtime error
	ExitFindings = 2 // at least one finding at error or above
)

// Findings flattens results' findings, in result order.
func Findings(results []*mxv1.CheckResult) []*mxv1.Finding {
	var out []*mxv1.Finding
	for _, r := range results {
		out = append(out, r.GetFindings()...)
	}
	return out
}

// ExitCode is ExitFindings when any finding is at error or above, or a check
// could not run; ExitOK otherwise.
func ExitCode(results []*mxv1.CheckResult) int {
	for _, r := range results {
		if r.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_ERROR {
			return ExitRuntime
		}
	}
	for _, f := range Findings(results) {
		if f.GetSeverity() >= mxv1.Severity_SEVERITY_ERROR {
			return ExitFindings
		}
	}
	return ExitOK
}

// WriteJSON writes the findings as a JSON array (proto JSON field names).
// Every finding carries "explains" and "explainedBy" (possibly empty), the
// root-cause links diagnose.Link set.
func WriteJSON(w io.Writer, results []*mxv1.CheckResult) error {
	m := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitUnpopulated: true}
	fs := Findings(results)
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	for i, f := range fs {
		b, err := m.Marshal(f)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		sep := ",\n"
		if i == 0 {
			sep = "\n"
		}
		if _, err := fmt.Fprintf(w, "%s  %s", sep, strings.ReplaceAll(string(b), "\n", "\n  ")); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

// WriteTable writes a readable report: the checks and their status, then
// one block per root cause (diagnose.Diagnoses) with the symptoms it
// explains indented under it, then the remaining findings per check, worst
// first, each with its fix underneath.
func WriteTable(w io.Writer, results []*mxv1.CheckResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	total := 0
	for _, r := range results {
		total += len(r.GetFindings())
		listed := ""
		if n := len(r.GetCertificates()); n > 0 {
			listed = ", " + text.Count(n, "certificate")
		}
		fmt.Fprintf(tw, "== %s %s: %s (%s, %s%s)\n", r.GetCheck(), r.GetTarget(), strings.TrimPrefix(r.GetStatus().String(), "CHECK_STATUS_"), r.GetDuration().AsDuration().Round(1e6), text.Count(len(r.GetFindings()), "finding"), listed)
		if r.GetError() != "" {
			fmt.Fprintf(tw, "   error: %s\n", r.GetError())
		}
	}
	ds := diagnose.Diagnoses(Findings(results))
	shown := map[[2]string]bool{}
	key := func(f *mxv1.Finding) [2]string { return [2]string{f.GetCode(), f.GetSubject()} }
	for i, d := range ds {
		c := d.Cause
		shown[key(c)] = true
		fmt.Fprintf(tw, "\n## root cause %d: %s %s %s\n", i+1, finding.SeverityName(c.GetSeverity()), c.GetCode(), c.GetSubject())
		fmt.Fprintf(tw, "   %s\n", c.GetSummary())
		if c.GetRemediation() != "" {
			fmt.Fprintf(tw, "   fix: %s\n", c.GetRemediation())
		}
		fmt.Fprintf(tw, "   explains:\n")
		for _, s := range d.Symptoms {
			shown[key(s)] = true
			fmt.Fprintf(tw, "      %s\t%s\t%s\n", finding.SeverityName(s.GetSeverity()), s.GetCode(), s.GetSummary())
		}
	}
	header := false
	for _, r := range results {
		for _, f := range r.GetFindings() {
			if shown[key(f)] {
				continue
			}
			shown[key(f)] = true
			if !header {
				fmt.Fprintf(tw, "\n## other findings\n")
				header = true
			}
			fmt.Fprintf(tw, "   %s\t%s\t%s\n", finding.SeverityName(f.GetSeverity()), f.GetCode(), f.GetSummary())
			if f.GetRemediation() != "" {
				fmt.Fprintf(tw, "   \t\tfix: %s\n", f.GetRemediation())
			}
		}
	}
	fmt.Fprintf(tw, "\n%s\n", footer(total, len(results), ds, results))
	return tw.Flush()
}

// footer counts what the table showed without claiming more than the links
// do: root causes and what they explain, and the findings at error or above
// that no linked cause explains (never "0 root causes" alone next to them).
func footer(total, checks int, ds []diagnose.Diagnosis, results []*mxv1.CheckResult) string {
	line := fmt.Sprintf("%s from %s", text.Count(total, "finding"), text.Count(checks, "check"))
	linked := map[[2]string]bool{}
	explained := 0
	for _, d := range ds {
		linked[[2]string{d.Cause.GetCode(), d.Cause.GetSubject()}] = true
		for _, s := range d.Symptoms {
			k := [2]string{s.GetCode(), s.GetSubject()}
			if !linked[k] {
				explained++
			}
			linked[k] = true
		}
	}
	if len(ds) > 0 {
		line += fmt.Sprintf(": %s explaining %s", text.Count(len(ds), "root cause"), text.Count(explained, "other finding"))
	}
	alone := map[[2]string]bool{}
	for _, f := range Findings(results) {
		k := [2]string{f.GetCode(), f.GetSubject()}
		if f.GetSeverity() >= mxv1.Severity_SEVERITY_ERROR && !linked[k] {
			alone[k] = true
		}
	}
	if n := len(alone); n > 0 {
		sep := "; "
		if len(ds) == 0 {
			sep = ": "
		}
		verb := "are"
		if n == 1 {
			verb = "is"
		}
		line += fmt.Sprintf("%s%s at error or above %s not linked to a cause (listed under other findings; fix each on its own)", sep, text.Count(n, "finding"), verb)
	}
	return line
}

// WriteCertificates lists every certificate the certificate-store checks
// read, keyless ones included (which the Windows certificate tools and
// Get-ExchangeCertificate do not make obvious): store, thumbprint, expiry,
// key status, subject and issuer.
func WriteCertificates(w io.Writer, results []*mxv1.CheckResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n## certificates\n")
	fmt.Fprintln(tw, "   STORE\tTHUMBPRINT\tNOT AFTER\tPRIVATE KEY\tSUBJECT\tISSUER")
	for _, r := range results {
		for _, c := range r.GetCertificates() {
			key := c.GetKeyStatus()
			if !c.GetHasPrivateKey() {
				key = "NONE"
			}
			fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\t%s\t%s\n", c.GetStore(), c.GetThumbprint(), c.GetNotAfter().AsTime().UTC().Format("2006-01-02"), key, c.GetSubject(), c.GetIssuer())
		}
	}
	return tw.Flush()
}
