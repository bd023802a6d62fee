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
	"github.com/mxprobe/mxprobe/internal/config"
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
			ttl, _ := config.GetDuration(cmd.Flags(), "ttl")
			uses, _ := cmd.Flags().GetInt32("uses")
			agentID, _ := cmd.Flags().GetString("agent-id")
			prefix, _ := cmd.Flags().GetString("agent-id-prefix")
			allowReenroll, _ := cmd.Flags().GetBool("allow-reenroll")
			req := &mxv1.CreateTokenRequest{Name: args[0], Site: site, Scopes: scopes, TtlSeconds: int64(ttl / time.Second), Uses: uses,
				AgentId: agentID, AgentIdPrefix: prefix, AllowReenroll: allowReenroll}
			switch kind {
			case "join":
				req.Kind = mxv1.TokenKind_TOKEN_KIND_JOIN
			case "reenroll":
				req.Kind = mxv1.TokenKind_TOKEN_KIND_REENROLL
				if agentID == "" {
					return fmt.Errorf("--kind reenroll needs --agent-id: the one enrolled agent it enrolls again")
				}
			case "api":
				req.Kind = mxv1.TokenKind_TOKEN_KIND_API
			default:
				return fmt.Errorf("--kind %q: join, reenroll or api", kind)
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
	create.Flags().String("kind", "join", "join (enrollment of new agent ids in one site), reenroll (one enrolled agent id again: new key, reinstalled host, or --site to move it) or api")
	create.Flags().String("site", "", "join: site of the agents it enrolls; reenroll: the agent's site (default: its current one); api: the one site the token may see (default: all)")
	create.Flags().String("agent-id", "", "reenroll: the agent id to enroll again")
	create.Flags().String("agent-id-prefix", "", "join: enrolled agent ids must start with this")
	create.Flags().Bool("allow-reenroll", false, "join: may also enroll again ids already enrolled in its own site (never another site's), retiring their older certificates: for hosts whose state does not survive, e.g. a DaemonSet on emptyDir")
	create.Flags().StringSlice("scopes", nil, "API token scopes: read, write, admin")
	config.DurationFlag(create.Flags(), "ttl", 0, "lifetime, e.g. 12h or 90d (default 24h for join, 1 year for api)")
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
				switch t.GetKind() {
				case mxv1.TokenKind_TOKEN_KIND_API:
					what = strings.Join(t.GetScopes(), ",")
					if t.GetSite() != "" {
						what += "@" + t.GetSite()
					}
				case mxv1.TokenKind_TOKEN_KIND_REENROLL:
					what += "/" + t.GetAgentId()
				case mxv1.TokenKind_TOKEN_KIND_JOIN:
					if t.GetAgentIdPrefix() != "" {
						what += "/" + t.GetAgentIdPrefix() + "*"
					}
					if t.GetAllowReenroll() {
						what += " (re-enrolls)"
					}
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
		addServerFlag(c)
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
	addServerFlag(revoke)
	root.AddCommand(revoke)
	return root
}
