package cli

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// exitPreflightBreaks is controller preflight's exit status when something
// would break (as agent preflight's).
const exitPreflightBreaks = 2

// exitError ends the command with a status and no message: what to say
// was printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// preflightCmd: controller preflight --new-cert FILE. The files are read
// here; only their certificates go to the controller (POST /v1/preflight)
// with the statement where the key will be.
func preflightCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "preflight --new-cert FILE",
		Short: "Predict, from every agent's last report, what importing a renewed certificate does to each server's connectors and the hybrid Edge rule, and which servers still run the old one (exit 0 nothing breaks, 2 something would, 1 error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, _ := cmd.Flags().GetString("format")
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			files, _ := cmd.Flags().GetStringSlice("new-cert")
			if len(files) == 0 {
				return errors.New("--new-cert FILE is required (the renewed certificate: PFX, PEM or DER/CER; a second --new-cert adds its key or chain file)")
			}
			pwFile, _ := cmd.Flags().GetString("pfx-password-file")
			pw, err := pfxPasswords(pwFile)
			if err != nil {
				return err
			}
			n, err := readNewCert(cmd.Context(), files, pw)
			if err != nil {
				return err
			}
			ks, _ := cmd.Flags().GetString("key-source")
			keyNote, err := keyStatement(n, ks)
			if err != nil {
				return err
			}
			if ks == "" {
				ks = "pfx"
			}
			site, _ := cmd.Flags().GetString("site")
			req := &mxv1.PreflightCertificateRequest{Certificate: n.pem(), FileName: filepath.Base(files[0]), Site: site, KeySource: ks}
			var resp mxv1.PreflightCertificateResponse
			if err := callJSON(cmd, "POST", "/v1/preflight", url.Values{}, req, &resp); err != nil {
				return err
			}
			if format == "json" {
				err = printJSON(stdout, &resp)
			} else {
				showPlan, _ := cmd.Flags().GetBool("plan")
				err = writePreflight(stdout, &resp, keyNote, showPlan)
			}
			if err != nil {
				return err
			}
			if resp.GetBreaks() {
				return exitError{exitPreflightBreaks}
			}
			return nil
		},
	}
	c.Flags().StringSlice("new-cert", nil, "the renewed certificate: PFX (password from "+pfxPasswordEnv+" or --pfx-password-file), PEM or DER/CER; repeat to add its key or chain file. Read here: only the certificates are sent")
	c.Flags().String("key-source", "", "where the key will be on each server when --new-cert holds none: pfx (imported with it from a PFX), request (the .cer completes a request made on the server), none; default pfx when the files hold the certificate's key")
	c.Flags().String("pfx-password-file", "", "file whose lines are tried as the PFX password (after "+pfxPasswordEnv+")")
	c.Flags().String("site", "", "only the agents of this site (the hybrid rule still compares with the other sites' Edge servers)")
	c.Flags().String("format", "table", "output format: table or json (the API's JSON)")
	c.Flags().Bool("plan", false, "table format: also print each server's renewal plan (PowerShell steps with their checks)")
	addServerFlag(c)
	return c
}

// keyStatement checks --key-source against what the files hold and says,
// for the output, what was found of the key (which is not sent).
func keyStatement(n newCert, ks string) (string, error) {
	switch ks {
	case "", "pfx", "request", "none":
	default:
		return "", fmt.Errorf("--key-source %q: want pfx, request or none", ks)
	}
	switch {
	case n.key && ks != "" && ks != "pfx":
		return "", fmt.Errorf("--key-source %s, but %s holds the certificate's key: leave --key-source out (or pfx)", ks, n.keyWhere)
	case n.key:
		return "in " + n.keyWhere + ", matches the certificate (read here, not sent to the controller)", nil
	case ks == "":
		return "", errors.New("--new-cert holds no private key: say where it will be with --key-source request (the .cer completes a request made on the server), pfx (each server imports a PFX with it) or none")
	case ks == "pfx":
		return "stated: each server imports it from a PFX (--key-source pfx; not checked here)", nil
	case ks == "request":
		return "stated: the pending request on each server holds it (--key-source request)", nil
	}
	return "none (--key-source none): the import is keyless", nil
}

// writePreflight prints the verdict first, then the servers' connectors,
// the failing and warning checks, the fleet checks and, with plan, the
// renewal plans.
func writePreflight(w io.Writer, r *mxv1.PreflightCertificateResponse, keyNote string, plan bool) error {
	nc := r.GetNewCertificate()
	fmt.Fprintf(w, "New certificate %s\n  subject %s\n  issuer  %s\n  TlsCertificateName %s\n  names %s\n", nc.GetThumbprint(), nc.GetSubject(), nc.GetIssuer(),
		nc.GetTlsCertificateName(), strings.Join(nc.GetNames(), ", "))
	if nc.GetNotAfter() != nil {
		fmt.Fprintf(w, "  valid until %s\n", nc.GetNotAfter().AsTime().UTC().Format(time.RFC3339))
	}
	if keyNote != "" {
		fmt.Fprintf(w, "  key %s\n", keyNote)
	}
	fmt.Fprintf(w, "\nVerdict: %s\n\n", preflightVerdict(r))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tAGENT\tSERVER\tSTATUS\tROLLOUT\tCONNECTOR\tTODAY\tAFTER IMPORT\tAFTER REMOVING OLD\tOUTCOME\tCODES")
	for _, a := range r.GetAgents() {
		server := orDash(a.GetServer())
		if len(a.GetConnectors()) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t%s\n", a.GetSite(), a.GetAgentId(), server, a.GetStatus(), orDash(a.GetRollout()), a.GetDetail())
			continue
		}
		for _, c := range a.GetConnectors() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.GetSite(), a.GetAgentId(), server, a.GetStatus(), orDash(a.GetRollout()), c.GetName(),
				short(c.GetToday(), nc), short(c.GetAfterImport(), nc), short(c.GetAfterRemoval(), nc), outcomeText(c), orDash(strings.Join(c.GetCodes(), ",")))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(thumbprints shortened to 8 characters; NEW is the new certificate; --format json has them in full)")
	var checks []string
	for _, a := range r.GetAgents() {
		for _, c := range a.GetChecks() {
			if c.GetStatus() == "fail" || c.GetStatus() == "warn" || c.GetStatus() == "not-checked" {
				checks = append(checks, fmt.Sprintf("  %s [%s] %s: %s", a.GetAgentId(), strings.ToUpper(c.GetStatus()), c.GetId(), c.GetSummary()))
			}
		}
		if a.GetRolloutDetail() != "" && a.GetRollout() != "not-imported" {
			checks = append(checks, fmt.Sprintf("  %s rollout %s: %s", a.GetAgentId(), a.GetRollout(), a.GetRolloutDetail()))
		}
	}
	if len(checks) > 0 {
		fmt.Fprintf(w, "\nServer checks that fail or warn:\n%s\n", strings.Join(checks, "\n"))
	}
	if len(r.GetFleetChecks()) > 0 {
		fmt.Fprintln(w, "\nFleet checks:")
		for _, c := range r.GetFleetChecks() {
			fmt.Fprintf(w, "  [%s] %s: %s\n", strings.ToUpper(c.GetStatus()), c.GetId(), c.GetSummary())
			if c.GetDetail() != "" {
				fmt.Fprintf(w, "      %s\n", c.GetDetail())
			}
		}
	}
	if plan {
		for _, a := range r.GetAgents() {
			if len(a.GetPlan()) == 0 {
				continue
			}
			fmt.Fprintf(w, "\nRenewal plan for %s (%s):\n", orDash(a.GetServer()), a.GetAgentId())
			for i, s := range a.GetPlan() {
				fmt.Fprintf(w, "  %d. %s\n", i+1, s.GetTitle())
				for _, cmd := range s.GetCommands() {
					fmt.Fprintf(w, "       %s\n", cmd)
				}
				if s.GetVerify() != "" {
					fmt.Fprintf(w, "     check: %s\n", s.GetVerify())
				}
			}
		}
	} else {
		fmt.Fprintln(w, "\nEach server's renewal plan: --plan (or the dashboard's Renewal page).")
	}
	return nil
}

// preflightVerdict is one line: what breaks where, or that nothing does.
func preflightVerdict(r *mxv1.PreflightCertificateResponse) string {
	var servers []string
	for _, a := range r.GetAgents() {
		if a.GetBreaks() {
			servers = append(servers, a.GetAgentId())
		}
	}
	var fleet []string
	for _, c := range r.GetFleetChecks() {
		if c.GetStatus() == "fail" {
			fleet = append(fleet, c.GetId())
		}
	}
	if !r.GetBreaks() {
		return fmt.Sprintf("nothing breaks on the %d agents evaluated (by their last reports; see stale and no-inventory agents above)", len(r.GetAgents()))
	}
	var parts []string
	if len(servers) > 0 {
		parts = append(parts, "on "+strings.Join(servers, ", "))
	}
	if len(fleet) > 0 {
		parts = append(parts, "fleet check "+strings.Join(fleet, ", ")+" fails")
	}
	return "BREAKS: " + strings.Join(parts, "; ")
}

func outcomeText(c *mxv1.PreflightConnector) string {
	if c.GetOutcome() != c.GetPredictedOutcome() && c.GetPredictedOutcome() != "" {
		return c.GetOutcome() + " (predicted " + c.GetPredictedOutcome() + ")"
	}
	return c.GetOutcome()
}

// short is a thumbprint's first 8 characters, NEW for the new certificate.
func short(tp string, n *mxv1.PreflightCertificateInfo) string {
	switch {
	case tp == "":
		return "none"
	case tp == n.GetThumbprint():
		return "NEW"
	case len(tp) > 8:
		return tp[:8]
	}
	return tp
}
