package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/version"
)

// Main runs the mxdemo command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := &cobra.Command{
		Use:           "mxdemo",
		Short:         "Run mxprobe on embedded defaults: a local controller, agents in two sites and a lab of broken SMTP servers (DEMO: no TLS, no auth)",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Long(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			g, _ := f.GetString("grpc-listen")
			h, _ := f.GetString("http-listen")
			r, _ := f.GetString("raft-listen")
			lb, _ := f.GetString("lab-listen")
			iv, _ := config.GetDuration(f, "interval")
			once, _ := f.GetBool("once")
			verbose, _ := f.GetBool("verbose")
			var log *slog.Logger
			if verbose {
				log = slog.New(slog.NewTextHandler(stderr, nil))
			}
			return Run(cmd.Context(), Options{GRPCListen: g, HTTPListen: h, RaftListen: r, LabListen: lb, Interval: iv, Once: once, Out: stdout, Logger: log})
		},
	}
	cmd.Flags().String("grpc-listen", "127.0.0.1:7400", "controller gRPC address (agents and ControllerService)")
	cmd.Flags().String("http-listen", "127.0.0.1:7401", "controller HTTP address (REST API, dashboard, metrics)")
	cmd.Flags().String("raft-listen", "127.0.0.1:7402", "controller raft address")
	cmd.Flags().String("lab-listen", "127.0.0.1:0", "address of the first lab SMTP server; the other four take the next ports (port 0: free ports)")
	config.DurationFlag(cmd.Flags(), "interval", 15*time.Second, "agent check interval")
	cmd.Flags().Bool("once", false, "print the first report and exit")
	cmd.Flags().Bool("verbose", false, "log controller and agents to stderr")
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "mxdemo:", err)
		return 1
	}
	return 0
}
