package preflight

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func short(tp string) string {
	if tp == "" {
		return "-"
	}
	if len(tp) > 12 {
		return tp[:12]
	}
	return tp
}

// WriteTable prints the report for an admin: the connectors, the checks,
// the plan and the verdict.
func WriteTable(w io.Writer, r Report) error {
	if err := WriteConnectors(w, r); err != nil {
		return err
	}
	if len(r.Inputs) > 0 {
		fmt.Fprintln(w, "\nInputs:")
		for _, in := range r.Inputs {
			src := string(in.Origin)
			if in.Where != "" {
				src += " (" + in.Where + ")"
			}
			switch {
			case in.Error != "":
				fmt.Fprintf(w, "  %s: not read: %s\n", in.Input, in.Error)
			default:
				fmt.Fprintf(w, "  %s: %s, %s\n", in.Input, in.Value, src)
			}
		}
	}
	fmt.Fprintln(w, "\nChecks:")
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  [%s] %s: %s\n", strings.ToUpper(string(c.Status)), c.ID, c.Summary)
		if c.Detail != "" {
			fmt.Fprintf(w, "         %s\n", c.Detail)
		}
	}
	fmt.Fprintln(w, "\nRenewal plan:")
	for i, s := range r.Plan {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s.Title)
		for _, c := range s.Commands {
			fmt.Fprintf(w, "       %s\n", c)
		}
		fmt.Fprintf(w, "     check: %s\n", s.Verify)
	}
	_, err := fmt.Fprintf(w, "\nVerdict: %s\n", Verdict(r))
	return err
}

// Verdict is the report's conclusion in one line.
func Verdict(r Report) string {
	not := 0
	for _, c := range r.Checks {
		if c.Status == NotChecked {
			not++
		}
	}
	v := "nothing breaks"
	if r.Breaks {
		v = "SOMETHING BREAKS (exit 2): fix the failed checks before importing"
	}
	if not > 0 {
		v += fmt.Sprintf(" (%d check(s) not done: see NOT-CHECKED)", not)
	}
	return v
}

// WriteConnectors prints the new certificate and the per-connector table
// (thumbprints shortened to 12 characters).
func WriteConnectors(w io.Writer, r Report) error {
	fmt.Fprintf(w, "Server %s, new certificate %s\n  %s\n  issued by %s, valid %s to %s, key %s\n\n", r.Server, r.New.Thumbprint,
		r.New.Subject, r.New.Issuer, r.New.NotBefore.Format("2006-01-02"), r.New.NotAfter.Format("2006-01-02"), r.New.Key)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONNECTOR\tKIND\tTODAY\tAFTER IMPORT\tAFTER REMOVING OLD\tOUTCOME\tCODES")
	for _, c := range r.Connectors {
		kind := string(c.Kind)
		if c.Role != "" {
			kind += "/" + c.Role
		}
		codes := strings.Join(c.NewCodes, ",")
		if c.Outcome == StillBroken {
			codes = strings.Join(c.Import.Codes, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, kind, short(c.Today.Selected), short(c.Import.Selected), short(c.Removal.Selected), c.Outcome, codes)
	}
	return tw.Flush()
}
