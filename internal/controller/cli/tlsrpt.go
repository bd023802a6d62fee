package cli

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// tlsrptCmd: controller tlsrpt import FILE... and controller tlsrpt list.
func tlsrptCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "tlsrpt", Short: "TLS-RPT reports (RFC 8460) other mail systems sent about your domains"}
	imp := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import reports received by mail: .json, .json.gz, or .eml with the report attached (duplicates by report-id are skipped)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			var failed int
			for _, f := range files {
				b, err := readBounded(f, tlsrpt.MaxInputBytes)
				if err == nil {
					// Parse here first: a bad file is named before anything is sent.
					_, err = tlsrpt.Parse(b)
				}
				var resp mxv1.ImportTLSReportResponse
				if err == nil {
					err = callJSON(cmd, "POST", "/v1/tlsrpt/reports:import", url.Values{}, &mxv1.ImportTLSReportRequest{Report: b, SourceName: filepath.Base(f)}, &resp)
				}
				switch {
				case err != nil:
					failed++
					fmt.Fprintf(stdout, "%s: %v\n", f, err)
				case resp.GetDuplicate():
					fmt.Fprintf(stdout, "%s: report %s from %s already stored (skipped)\n", f, resp.GetReportId(), resp.GetOrganizationName())
				default:
					fmt.Fprintf(stdout, "%s: imported report %s from %s for %s\n", f, resp.GetReportId(), resp.GetOrganizationName(), strings.Join(resp.GetPolicyDomains(), ", "))
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d files not imported", failed, len(files))
			}
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Totals per policy domain and reporting organisation, then the newest reports",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp mxv1.ListTLSReportsResponse
			if err := getJSON(cmd, "/v1/tlsrpt/reports", flagQuery(cmd, "domain", "organization"), &resp); err != nil {
				return err
			}
			if j, _ := cmd.Flags().GetBool("json"); j {
				return printJSON(stdout, &resp)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tSENDER\tREPORTS\tOK\tFAILED\tFAILURES\tRECEIVING MX\tLAST")
			for _, s := range resp.GetSummaries() {
				var fs []string
				for _, k := range slices.Sorted(maps.Keys(s.GetFailuresByResult())) {
					fs = append(fs, fmt.Sprintf("%s=%d", k, s.GetFailuresByResult()[k]))
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", s.GetPolicyDomain(), s.GetOrganizationName(), s.GetReports(), s.GetSuccessfulSessions(),
					s.GetFailedSessions(), orDash(strings.Join(fs, ",")), orDash(strings.Join(s.GetReceivingMxHosts(), ",")), s.GetLastEnd().AsTime().UTC().Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n := resp.GetReportsLeftOff(); n > 0 {
				fmt.Fprintf(stdout, "%d older matching reports not returned (the API lists at most 100, within 3 MiB); narrow with --domain or --organization.\n", n)
			}
			return nil
		},
	}
	list.Flags().String("domain", "", "only this policy domain")
	list.Flags().String("organization", "", "only reports from this organisation (organization-name)")
	list.Flags().Bool("json", false, "print the API's JSON")
	for _, c := range []*cobra.Command{imp, list} {
		addServerFlag(c)
	}
	list.Flags().Bool("stale", false, "answer from the contacted node's state without asking the leader")
	root.AddCommand(imp, list)
	return root
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return b, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
