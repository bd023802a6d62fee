package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
	agents := &cobra.Command{
		Use:   "agents",
		Short: "List agents with site and last-seen time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			site, _ := cmd.Flags().GetString("site")
			var resp mxv1.ListAgentsResponse
			if err := getJSON(cmd, "/v1/agents", url.Values{"site": {site}, "stale": {staleParam(cmd)}}, &resp); err != nil {
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
			q := flagQuery(cmd, "site", "agent-id", "code", "min-severity")
			if v := q.Get("min_severity"); v != "" {
				s, err := finding.ParseSeverity(v)
				if err != nil {
					return err
				}
				q.Set("min_severity", s.String())
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
	results, certs := resultsCmd(stdout), certificatesCmd(stdout)
	for _, c := range []*cobra.Command{agents, findings, results, certs} {
		addServerFlag(c)
		c.Flags().Bool("stale", false, "answer from the contacted node's state without asking the leader")
	}
	return append([]*cobra.Command{agents, findings, results, certs, clusterCmd(stdout)}, opsCmds(stdout)...)
}

// flagQuery is the query for a list call: each named string flag that is
// set (its name with _ for -) and the stale flag.
func flagQuery(cmd *cobra.Command, flags ...string) url.Values {
	q := url.Values{}
	for _, f := range flags {
		if v, _ := cmd.Flags().GetString(f); v != "" {
			q.Set(strings.ReplaceAll(f, "-", "_"), v)
		}
	}
	q.Set("stale", staleParam(cmd))
	return q
}

func staleParam(cmd *cobra.Command) string {
	if v, _ := cmd.Flags().GetBool("stale"); v {
		return "true"
	}
	return ""
}

func getJSON(cmd *cobra.Command, path string, q url.Values, out proto.Message) error {
	return callJSON(cmd, http.MethodGet, path, q, nil, out)
}

func callJSON(cmd *cobra.Command, method, path string, q url.Values, in, out proto.Message) error {
	srv, err := serverOf(cmd)
	if err != nil {
		return err
	}
	u := srv.base + path
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
	var body io.Reader
	if in != nil {
		b, err := protojson.Marshal(in)
		if err != nil {
			return err
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := flagOrEnv(cmd, "token", "MXPROBE_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc, err := httpClient(cmd)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return srv.explain(method, path, err)
	}
	defer resp.Body.Close()
	if err := srv.checkResponse(method, path, resp); err != nil {
		return err
	}
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(rb, &e)
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, e.Message)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(rb, out)
}

// flagOrEnv reads a (persistent) flag, falling back to an environment variable.
func flagOrEnv(cmd *cobra.Command, flag, env string) string {
	if v, _ := cmd.Flags().GetString(flag); v != "" {
		return v
	}
	return os.Getenv(env)
}

// httpClient trusts --controller-ca-file (MXPROBE_CONTROLLER_CA_FILE) for
// https servers, else the system roots.
func httpClient(cmd *cobra.Command) (*http.Client, error) {
	caFile := controllerCAFile(cmd)
	if caFile == "" {
		return http.DefaultClient, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}, nil
}
