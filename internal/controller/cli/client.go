package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// clientCmds are the API client commands (REST over the HTTP port).
func clientCmds(stdout io.Writer) []*cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster status as seen by one node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp mxv1.GetClusterStatusResponse
			if err := getJSON(cmd, "/v1/cluster/status", nil, &resp); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "node %s: %s, leader %s (%s), term %d, commit %d, applied %d\n", resp.GetNodeId(), resp.GetState(), resp.GetLeaderId(), resp.GetLeaderAddress(), resp.GetTerm(), resp.GetCommitIndex(), resp.GetAppliedIndex())
			for _, p := range resp.GetPeers() {
				fmt.Fprintf(stdout, "  peer %s %s %s\n", p.GetId(), p.GetAddress(), p.GetSuffrage())
			}
			return nil
		},
	}
	agents := &cobra.Command{
		Use:   "agents",
		Short: "List agents with site and last-seen time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			site, _ := cmd.Flags().GetString("site")
			var resp mxv1.ListAgentsResponse
			if err := getJSON(cmd, "/v1/agents", url.Values{"site": {site}}, &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tSITE\tHOST\tVERSION\tLAST SEEN\tLAST SEQ")
			for _, a := range resp.GetAgents() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", a.GetAgentId(), a.GetSite(), a.GetHostname(), a.GetVersion(), a.GetLastSeen().AsTime().Format(time.RFC3339), a.GetLastSeq())
			}
			return tw.Flush()
		},
	}
	agents.Flags().String("site", "", "only agents of this site")
	findings := &cobra.Command{
		Use:   "findings",
		Short: "List the latest findings, worst first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for _, f := range []string{"site", "agent-id", "code", "min-severity"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					if f == "min-severity" {
						s, err := finding.ParseSeverity(v)
						if err != nil {
							return err
						}
						v = s.String()
					}
					q.Set(strings.ReplaceAll(f, "-", "_"), v)
				}
			}
			var resp mxv1.ListFindingsResponse
			if err := getJSON(cmd, "/v1/findings", q, &resp); err != nil {
				return err
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			if asJSON {
				b, err := protojson.MarshalOptions{Multiline: true}.Marshal(&resp)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(stdout, string(b))
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEVERITY\tSITE\tAGENT\tCODE\tSUBJECT\tSUMMARY")
			for _, o := range resp.GetFindings() {
				f := o.GetFinding()
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", finding.SeverityName(f.GetSeverity()), o.GetSite(), o.GetAgentId(), f.GetCode(), f.GetSubject(), f.GetSummary())
			}
			return tw.Flush()
		},
	}
	for _, f := range []string{"site", "agent-id", "code", "min-severity"} {
		findings.Flags().String(f, "", "filter by "+f)
	}
	findings.Flags().Bool("json", false, "print the API's JSON")
	cmds := []*cobra.Command{status, agents, findings}
	for _, c := range cmds {
		c.Flags().String("server", "http://127.0.0.1:7401", "controller HTTP address")
	}
	return cmds
}

func getJSON(cmd *cobra.Command, path string, q url.Values, out proto.Message) error {
	server, _ := cmd.Flags().GetString("server")
	u := strings.TrimRight(server, "/") + path
	for k, v := range q {
		if len(v) == 0 || v[0] == "" {
			q.Del(k)
		}
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, e.Message)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(body, out)
}
