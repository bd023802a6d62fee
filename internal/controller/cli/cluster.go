package cli

import (
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// clusterCmd: controller cluster status|join|remove-peer|leave|transfer-leadership.
func clusterCmd(stdout io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "cluster", Short: "Inspect and change cluster membership"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Peers, leader, term, commit/applied index and (from the leader) last contact per peer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r mxv1.GetClusterStatusResponse
			if err := getJSON(cmd, "/v1/cluster/status", nil, &r); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "node %s: %s; leader %s (%s); term %d; commit %d; applied %d; last log %d; leader changes %d\n",
				r.GetNodeId(), r.GetState(), r.GetLeaderId(), r.GetLeaderAddress(), r.GetTerm(), r.GetCommitIndex(), r.GetAppliedIndex(), r.GetLastLogIndex(), r.GetLeaderChanges())
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tRAFT ADDRESS\tGRPC ADDRESS\tAGENT ADDRESS\tSUFFRAGE\tHEALTHY\tAPPLIED\tLAST CONTACT")
			for _, p := range r.GetPeers() {
				lc := "-"
				if p.GetLastContact() != nil {
					lc = time.Since(p.GetLastContact().AsTime()).Round(time.Millisecond).String() + " ago"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\n", p.GetId(), p.GetAddress(), p.GetGrpcAddress(), p.GetAgentAddress(), p.GetSuffrage(), p.GetHealthy(), p.GetAppliedIndex(), lc)
			}
			return tw.Flush()
		},
	}
	join := &cobra.Command{
		Use:   "join MEMBER_GRPC_ADDRESS",
		Short: "Make the node at --server join the cluster of the given member",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r mxv1.JoinClusterResponse
			if err := callJSON(cmd, http.MethodPost, "/v1/cluster:join", nil, &mxv1.JoinClusterRequest{Address: args[0]}, &r); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "joined; leader %s\n", r.GetLeaderId())
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove-peer NODE_ID",
		Short: "Remove a server from the raft configuration (forwarded to the leader)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := callJSON(cmd, http.MethodDelete, "/v1/cluster/peers/"+args[0], nil, nil, &mxv1.RemovePeerResponse{}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %s\n", args[0])
			return nil
		},
	}
	leave := &cobra.Command{
		Use:   "leave",
		Short: "Remove the node at --server from the cluster (hand leadership over first if it leads); stop it afterwards",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st mxv1.GetClusterStatusResponse
			if err := getJSON(cmd, "/v1/cluster/status", nil, &st); err != nil {
				return err
			}
			if st.GetState() == "leader" {
				if err := callJSON(cmd, http.MethodPost, "/v1/cluster:transferLeadership", nil, &mxv1.TransferLeadershipRequest{}, &mxv1.TransferLeadershipResponse{}); err != nil {
					return err
				}
			}
			if err := callJSON(cmd, http.MethodDelete, "/v1/cluster/peers/"+st.GetNodeId(), nil, nil, &mxv1.RemovePeerResponse{}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s left the cluster; stop its process now\n", st.GetNodeId())
			return nil
		},
	}
	transfer := &cobra.Command{
		Use:   "transfer-leadership [NODE_ID]",
		Short: "Hand leadership to NODE_ID (or the most up-to-date voter)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &mxv1.TransferLeadershipRequest{}
			if len(args) == 1 {
				req.NodeId = args[0]
			}
			var r mxv1.TransferLeadershipResponse
			if err := callJSON(cmd, http.MethodPost, "/v1/cluster:transferLeadership", nil, req, &r); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "leader is now %s\n", r.GetNewLeaderId())
			return nil
		},
	}
	for _, c := range []*cobra.Command{status, join, remove, leave, transfer} {
		addServerFlag(c)
		root.AddCommand(c)
	}
	return root
}
