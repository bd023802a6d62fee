package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// refsCmd attaches, changes or removes external references (ITSM ticket
// numbers) of an incident: PATCH /v1/incidents/{id}.
func refsCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "refs ID SYSTEM=REFERENCE...",
		Short: "Attach ticket numbers to an incident (servicenow=INC0012345 jira=OPS-42; SYSTEM= removes one)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs := map[string]string{}
			for _, a := range args[1:] {
				system, ref, ok := strings.Cut(a, "=")
				if !ok || system == "" {
					return fmt.Errorf("%q: want SYSTEM=REFERENCE (an empty reference removes the system)", a)
				}
				refs[system] = ref
			}
			actor, _ := cmd.Flags().GetString("actor")
			comment, _ := cmd.Flags().GetString("comment")
			seq, _ := cmd.Flags().GetUint64("expected-sequence")
			key, _ := cmd.Flags().GetString("idempotency-key")
			req := &mxv1.UpdateIncidentRefsRequest{Id: args[0], ExternalRefs: refs, Actor: actor, Comment: comment, ExpectedSequence: seq, IdempotencyKey: key}
			var resp mxv1.UpdateIncidentRefsResponse
			if err := callJSON(cmd, http.MethodPatch, "/v1/incidents/"+url.PathEscape(args[0]), nil, req, &resp); err != nil {
				return err
			}
			i := resp.GetIncident()
			var pairs []string
			for k, v := range i.GetExternalRefs() {
				pairs = append(pairs, k+"="+v)
			}
			sort.Strings(pairs)
			fmt.Fprintf(stdout, "%s references: %s (sequence %d)\n", i.GetId(), strings.Join(pairs, " "), i.GetSequence())
			return nil
		},
	}
	c.Flags().String("actor", defaultActor(), "on whose behalf (recorded in the timeline)")
	c.Flags().String("comment", "", "comment for the timeline")
	c.Flags().Uint64("expected-sequence", 0, "fail if the incident changed since this sequence (0: any)")
	c.Flags().String("idempotency-key", "", "retries with the same key act once (any node, 24 h)")
	addServerFlag(c)
	return c
}
