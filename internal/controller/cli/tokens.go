package cli

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// tokensCmd: controller tokens create|list|revoke (admin scope).
func tokensCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "tokens", Short: "Create, list and revoke join tokens (agent enrollment) and API tokens"}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a token; its secret is printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, _ := cmd.Flags().GetString("kind")
			site, _ := cmd.Flags().GetString("site")
			scopes, _ := cmd.Flags().GetStringSlice("scopes")
			ttl, _ := cmd.Flags().GetDuration("ttl")
			uses, _ := cmd.Flags().GetInt32("uses")
			req := &mxv1.CreateTokenRequest{Name: args[0], Site: site, Scopes: scopes, TtlSeconds: int64(ttl / time.Second), Uses: uses}
			switch kind {
			case "join":
				req.Kind = mxv1.TokenKind_TOKEN_KIND_JOIN
			case "api":
				req.Kind = mxv1.TokenKind_TOKEN_KIND_API
			default:
				return fmt.Errorf("--kind %q: join or api", kind)
			}
			var r mxv1.CreateTokenResponse
			if err := callJSON(cmd, http.MethodPost, "/v1/tokens", nil, req, &r); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %s (%s) created; expires %s\n%s\n", r.GetToken().GetId(), kind,
				r.GetToken().GetExpiresAt().AsTime().Format(time.RFC3339), r.GetSecret())
			return nil
		},
	}
	create.Flags().String("kind", "join", "join (agent enrollment for one site) or api")
	create.Flags().String("site", "", "site of the agents a join token enrolls")
	create.Flags().StringSlice("scopes", nil, "API token scopes: read, write, admin")
	create.Flags().Duration("ttl", 0, "lifetime (default 24h for join, 1 year for api)")
	create.Flags().Int32("uses", 0, "join token enrollments (default 1; -1 unlimited until expiry)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r mxv1.ListTokensResponse
			if err := getJSON(cmd, "/v1/tokens", nil, &r); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tNAME\tSITE/SCOPES\tUSES LEFT\tEXPIRES\tREVOKED\tCREATED BY")
			for _, t := range r.GetTokens() {
				what := t.GetSite()
				if t.GetKind() == mxv1.TokenKind_TOKEN_KIND_API {
					what = strings.Join(t.GetScopes(), ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%v\t%s\n", t.GetId(), strings.TrimPrefix(t.GetKind().String(), "TOKEN_KIND_"), t.GetName(), what,
					t.GetUsesLeft(), t.GetExpiresAt().AsTime().Format(time.RFC3339), t.GetRevoked(), t.GetCreatedBy())
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := callJSON(cmd, http.MethodDelete, "/v1/tokens/"+args[0], nil, nil, &mxv1.RevokeTokenResponse{}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	for _, c := range []*cobra.Command{create, list, revoke} {
		c.Flags().String("server", "http://127.0.0.1:7401", "controller HTTP(S) address")
		root.AddCommand(c)
	}
	return root
}

// agentsAdminCmd: controller agent revoke ID.
func agentsAdminCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "agent", Short: "Administer agents"}
	revoke := &cobra.Command{
		Use:   "revoke AGENT_ID",
		Short: "Revoke an agent: every certificate issued to it so far stops working and its stream is cut",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := callJSON(cmd, http.MethodPost, "/v1/agents/"+args[0]+":revoke", nil, &mxv1.RevokeAgentRequest{AgentId: args[0]}, &mxv1.RevokeAgentResponse{}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "agent %s revoked\n", args[0])
			return nil
		},
	}
	revoke.Flags().String("server", "http://127.0.0.1:7401", "controller HTTP(S) address")
	root.AddCommand(revoke)
	return root
}
