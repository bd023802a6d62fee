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
			listed = fmt.Sprintf(", %d certificates", n)
		}
		fmt.Fprintf(tw, "== %s %s: %s (%s, %d findings%s)\n", r.GetCheck(), r.GetTarget(), strings.TrimPrefix(r.GetStatus().String(), "CHECK_STATUS_"), r.GetDuration().AsDuration().Round(1e6), len(r.GetFindings()), listed)
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
	fmt.Fprintf(tw, "\n%d findings from %d checks, %d root causes\n", total, len(results), len(ds))
	return tw.Flush()
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
