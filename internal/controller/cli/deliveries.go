package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// deliveriesCmd: controller deliveries list|redeliver|targets|enable, the
// notification outbox as GET/POST /v1/deliveries and /v1/notify/targets
// show it.
func deliveriesCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "deliveries", Short: "Notification deliveries: attempts, next attempt and last error; redeliver a failed one; targets"}
	list := &cobra.Command{
		Use:   "list",
		Short: "Deliveries in enqueue order with their attempts, next attempt and last error (every page)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := flagQuery(cmd, "status", "target")
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEVENT\tINCIDENT\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
			for {
				var resp mxv1.ListDeliveriesResponse
				if err := getJSON(cmd, "/v1/deliveries", q, &resp); err != nil {
					return err
				}
				for _, d := range resp.GetDeliveries() {
					next := "-"
					if d.GetNextAttemptAt() != nil {
						next = d.GetNextAttemptAt().AsTime().UTC().Format(time.RFC3339)
					}
					lastErr := d.GetLastError()
					if lastErr == "" {
						lastErr = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.GetId(), d.GetEvent().GetType(), d.GetEvent().GetIncidentId(),
						strings.TrimPrefix(d.GetStatus().String(), "DELIVERY_STATUS_"), d.GetAttempts(), next, lastErr)
				}
				if resp.GetNextPageToken() == "" {
					break
				}
				q.Set("page_token", resp.GetNextPageToken())
			}
			return tw.Flush()
		},
	}
	list.Flags().String("status", "", "only PENDING, DELIVERED or FAILED deliveries")
	list.Flags().String("target", "", "only this target's deliveries (webhook, pagerduty, servicenow, alertmanager)")
	list.Flags().Bool("stale", false, "answer from the contacted node's state without asking the leader")
	redeliver := &cobra.Command{
		Use:   "redeliver ID",
		Short: "Send a FAILED delivery again (write scope): it goes back to PENDING with a fresh retry window",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, _ := cmd.Flags().GetString("actor")
			var resp mxv1.RedeliverDeliveryResponse
			// The id is target/event: the slash stays a path separator.
			path := "/v1/deliveries/" + escapeSegments(args[0]) + ":redeliver"
			if err := callJSON(cmd, http.MethodPost, path, nil, &mxv1.RedeliverDeliveryRequest{Id: args[0], Actor: actor}, &resp); err != nil {
				return err
			}
			d := resp.GetDelivery()
			fmt.Fprintf(stdout, "%s: %s\n", d.GetId(), strings.TrimPrefix(d.GetStatus().String(), "DELIVERY_STATUS_"))
			return nil
		},
	}
	redeliver.Flags().String("actor", defaultActor(), "who asks (recorded with the request)")
	targets := &cobra.Command{
		Use:   "targets",
		Short: "Notification targets: disabled (after 410 Gone) or not, failed attempts and deliveries, the last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var resp mxv1.ListNotifyTargetsResponse
			if err := getJSON(cmd, "/v1/notify/targets", flagQuery(cmd), &resp); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TARGET\tDISABLED\tFAILED ATTEMPTS\tGIVEN UP\tLAST ERROR")
			for _, ts := range resp.GetTargets() {
				disabled := "no"
				if ts.GetDisabled() {
					disabled = "yes: " + ts.GetReason()
				}
				lastErr := ts.GetLastError()
				if lastErr == "" {
					lastErr = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", ts.GetName(), disabled, ts.GetFailedAttempts(), ts.GetFailedDeliveries(), lastErr)
			}
			return tw.Flush()
		},
	}
	targets.Flags().Bool("stale", false, "answer from the contacted node's state without asking the leader")
	enable := &cobra.Command{
		Use:   "enable TARGET",
		Short: "Re-enable a target disabled after it answered 410 Gone (write scope)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			actor, _ := cmd.Flags().GetString("actor")
			var resp mxv1.EnableNotifyTargetResponse
			if err := callJSON(cmd, http.MethodPost, "/v1/notify/targets/"+url.PathEscape(args[0])+":enable", nil,
				&mxv1.EnableNotifyTargetRequest{Name: args[0], Actor: actor}, &resp); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: enabled\n", resp.GetTarget().GetName())
			return nil
		},
	}
	enable.Flags().String("actor", defaultActor(), "who asks (recorded with the request)")
	for _, c := range []*cobra.Command{list, redeliver, targets, enable} {
		addServerFlag(c)
	}
	root.AddCommand(list, redeliver, targets, enable)
	return root
}

// escapeSegments path-escapes each /-separated segment of s.
func escapeSegments(s string) string {
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
