package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// resultsCmd lists the latest check results with the time their outcome
// began (GET /v1/results, every page).
func resultsCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "results",
		Short: "List every agent's latest result per check and target, and since when it has had that outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := flagQuery(cmd, "site", "agent-id", "check")
			if failing, _ := cmd.Flags().GetBool("failing"); failing {
				q.Set("failing", "true")
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tSITE\tCHECK\tTARGET\tSTATUS\tSINCE\tCODES\tCHANGES")
			for {
				var resp mxv1.ListResultsResponse
				if err := getJSON(cmd, "/v1/results", q, &resp); err != nil {
					return err
				}
				for _, r := range resp.GetResults() {
					status := strings.TrimPrefix(r.GetResult().GetStatus().String(), "CHECK_STATUS_")
					if r.GetRetired() {
						status += " (retired)"
					}
					var codes []string
					if h := r.GetHistory(); len(h) > 0 {
						codes = h[len(h)-1].GetCodes()
					}
					since := "-"
					if r.GetSince() != nil {
						since = r.GetSince().AsTime().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.GetAgentId(), r.GetSite(), r.GetResult().GetCheck(), r.GetResult().GetTarget(),
						status, since, strings.Join(codes, ","), len(r.GetHistory()))
				}
				if resp.GetNextPageToken() == "" {
					break
				}
				q.Set("page_token", resp.GetNextPageToken())
			}
			return tw.Flush()
		},
	}
	for _, f := range []string{"site", "agent-id", "check"} {
		c.Flags().String(f, "", "filter by "+f)
	}
	c.Flags().Bool("failing", false, "only results with status FAIL or ERROR")
	return c
}
