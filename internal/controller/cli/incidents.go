package cli

import (
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
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// correlationConfig maps the correlation.* settings.
func correlationConfig(c config.Controller) correlate.LoopConfig {
	k := c.Correlation
	return correlate.LoopConfig{
		Interval: k.Interval,
		Engine: correlate.Config{
			OpenAfterObservations: k.OpenAfterObservations, OpenAfter: k.OpenAfter, ResolveAfterClean: k.ResolveAfterClean,
			ReopenWindow: k.ReopenWindow, SilentAfter: k.SilentAfter, Retention: k.Retention,
		},
	}
}

// incidentsCmd: controller incidents list|show|ack|resolve.
func incidentsCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "incidents", Short: "List, show, acknowledge and resolve incidents, attach ticket numbers"}
	list := &cobra.Command{
		Use:   "list",
		Short: "Incidents, worst and newest first (PENDING ones only with --filter 'state = \"PENDING\"')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"stale": {staleParam(cmd)}}
			filter, _ := cmd.Flags().GetString("filter")
			var clauses []string
			if filter != "" {
				clauses = append(clauses, filter)
			}
			for _, f := range []string{"state", "severity", "scope", "site", "host"} {
				if v, _ := cmd.Flags().GetString(f); v != "" {
					op := "="
					if f == "severity" {
						op = ">="
					}
					clauses = append(clauses, fmt.Sprintf("%s %s %q", f, op, v))
				}
			}
			q.Set("filter", strings.Join(clauses, " AND "))
			all, _ := cmd.Flags().GetBool("all")
			asJSON, _ := cmd.Flags().GetBool("json")
			if !asJSON {
				q.Set("brief", "true")
			}
			var incs []*mxv1.Incident
			for {
				var resp mxv1.ListIncidentsResponse
				if err := getJSON(cmd, "/v1/incidents", q, &resp); err != nil {
					return err
				}
				incs = append(incs, resp.GetIncidents()...)
				if !all || resp.GetNextPageToken() == "" {
					break
				}
				q.Set("page_token", resp.GetNextPageToken())
			}
			if asJSON {
				return printJSON(stdout, &mxv1.ListIncidentsResponse{Incidents: incs})
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tSCOPE\tDIRECTION\tSEQ\tLAST SEEN\tSUMMARY")
			for _, i := range incs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", i.GetId(), incident.StateName(i.GetState()), finding.SeverityName(i.GetSeverity()),
					incident.ScopeLabel(i.GetScope()), dash(incident.DirectionLabel(i.GetDirection()), "UNSPECIFIED"), i.GetSequence(),
					i.GetLastSeen().AsTime().Format(time.RFC3339), i.GetSummary())
			}
			return tw.Flush()
		},
	}
	list.Flags().String("filter", "", `AIP-160 filter, e.g. 'state = "OPEN" AND severity >= "ERROR"'`)
	list.Flags().String("state", "", "only this state (PENDING, OPEN, ACKNOWLEDGED, RESOLVED)")
	list.Flags().String("severity", "", "only this severity or worse")
	list.Flags().String("scope", "", "only this scope (CERTIFICATE, SERVER, SITE, REMOTE_TARGET, DIRECTION, FLEET_HORIZON)")
	list.Flags().String("site", "", "only incidents involving this site")
	list.Flags().String("host", "", "only incidents involving this host")
	list.Flags().Bool("all", false, "follow next_page_token to the end")

	show := &cobra.Command{
		Use:   "show ID|FINGERPRINT",
		Short: "One incident: root cause, remediation, direction, members and timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp mxv1.GetIncidentResponse
			if err := getJSON(cmd, "/v1/incidents/"+url.PathEscape(args[0]), url.Values{"stale": {staleParam(cmd)}}, &resp); err != nil {
				return err
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return printJSON(stdout, resp.GetIncident())
			}
			printIncident(stdout, resp.GetIncident())
			return nil
		},
	}
	action := func(use, short, verb string, mk func(id, actor, comment string, seq uint64) proto.Message, out func() interface {
		proto.Message
		GetIncident() *mxv1.Incident
	}) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				actor, _ := cmd.Flags().GetString("actor")
				comment, _ := cmd.Flags().GetString("comment")
				seq, _ := cmd.Flags().GetUint64("expected-sequence")
				resp := out()
				if err := callJSON(cmd, http.MethodPost, "/v1/incidents/"+url.PathEscape(args[0])+":"+verb, nil, mk(args[0], actor, comment, seq), resp); err != nil {
					return err
				}
				i := resp.GetIncident()
				fmt.Fprintf(stdout, "%s %s: %s (sequence %d)\n", i.GetId(), verb+"d", incident.StateName(i.GetState()), i.GetSequence())
				return nil
			},
		}
		c.Flags().String("actor", defaultActor(), "who acts (recorded in the timeline)")
		c.Flags().String("comment", "", "comment for the timeline")
		c.Flags().Uint64("expected-sequence", 0, "fail if the incident changed since this sequence (0: any)")
		return c
	}
	ack := action("ack", "Acknowledge an OPEN incident", "acknowledge",
		func(id, actor, comment string, seq uint64) proto.Message {
			return &mxv1.AcknowledgeIncidentRequest{Id: id, Actor: actor, Comment: comment, ExpectedSequence: seq}
		}, func() interface {
			proto.Message
			GetIncident() *mxv1.Incident
		} {
			return &mxv1.AcknowledgeIncidentResponse{}
		})
	resolve := action("resolve", "Resolve an OPEN or ACKNOWLEDGED incident (it reopens if its findings persist)", "resolve",
		func(id, actor, comment string, seq uint64) proto.Message {
			return &mxv1.ResolveIncidentRequest{Id: id, Actor: actor, Comment: comment, ExpectedSequence: seq}
		}, func() interface {
			proto.Message
			GetIncident() *mxv1.Incident
		} {
			return &mxv1.ResolveIncidentResponse{}
		})
	for _, c := range []*cobra.Command{list, show, ack, resolve} {
		addServerFlag(c)
		if c == list || c == show {
			c.Flags().Bool("stale", false, "answer from the contacted node's state without asking the leader")
			c.Flags().Bool("json", false, "print the API's JSON")
		}
	}
	root.AddCommand(list, show, ack, resolve, refsCmd(stdout))
	return root
}

func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func printIncident(w io.Writer, i *mxv1.Incident) {
	t := func(ts interface{ AsTime() time.Time }, ok bool) string {
		if !ok {
			return "-"
		}
		return ts.AsTime().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s  %s  %s  scope %s  sequence %d\n", i.GetId(), incident.StateName(i.GetState()), finding.SeverityName(i.GetSeverity()), incident.ScopeLabel(i.GetScope()), i.GetSequence())
	fmt.Fprintf(w, "summary:     %s\n", i.GetSummary())
	fmt.Fprintf(w, "fingerprint: %s\n", i.GetFingerprint())
	fmt.Fprintf(w, "cause:       %s  subject: %s\n", i.GetCause(), i.GetSubject())
	if rc := i.GetRootCause(); rc != nil {
		fmt.Fprintf(w, "root cause:  %s %s on %s (%s): %s\n", rc.GetCode(), rc.GetSubject(), dash(rc.GetHost(), ""), dash(rc.GetSite(), ""), rc.GetSummary())
	}
	if i.GetDirection() != mxv1.FlowDirection_FLOW_DIRECTION_UNSPECIFIED {
		fmt.Fprintf(w, "direction:   %s: %s\n", incident.DirectionLabel(i.GetDirection()), i.GetDirectionDetail())
	}
	fmt.Fprintf(w, "fix:         %s\n", i.GetRemediation())
	fmt.Fprintf(w, "hosts:       %s\nsites:       %s\nagents:      %s\n", strings.Join(i.GetHosts(), ", "), strings.Join(i.GetSites(), ", "), strings.Join(i.GetAgents(), ", "))
	fmt.Fprintf(w, "first seen %s, last seen %s, opened %s, acknowledged %s, resolved %s; stale evidence: %v\n",
		t(i.GetFirstSeen(), i.GetFirstSeen() != nil), t(i.GetLastSeen(), i.GetLastSeen() != nil), t(i.GetOpenedAt(), i.GetOpenedAt() != nil),
		t(i.GetAcknowledgedAt(), i.GetAcknowledgedAt() != nil), t(i.GetResolvedAt(), i.GetResolvedAt() != nil), i.GetStale())
	fmt.Fprintf(w, "\nmembers (%d of %d):\n", len(i.GetMembers()), i.GetMembersTotal())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ROLE\tSEVERITY\tSITE\tAGENT\tCODE\tSUBJECT\tSTALE")
	for _, m := range i.GetMembers() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%v\n", m.GetRole(), finding.SeverityName(m.GetFinding().GetSeverity()), m.GetSite(), m.GetAgentId(), m.GetFinding().GetCode(), m.GetFinding().GetSubject(), m.GetStale())
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "\ntimeline:")
	for _, e := range i.GetTimeline() {
		c := e.GetComment()
		if c != "" {
			c = ": " + c
		}
		fmt.Fprintf(w, "  %s  #%d  %s by %s%s\n", e.GetAt().AsTime().Format(time.RFC3339), e.GetSequence(), e.GetKind(), e.GetActor(), c)
	}
}

func dash(s, empty string) string {
	if s == "" || s == empty {
		return "-"
	}
	return s
}

// defaultActor is the local user name, for the timeline.
func defaultActor() string {
	for _, k := range []string{"USER", "USERNAME"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return "cli"
}
