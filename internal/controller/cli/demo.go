package cli

import (
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/demo"
)

func demoCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run mxprobe on embedded defaults: a local controller, agents in two sites and a lab of broken SMTP servers (DEMO: no TLS, no auth)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			g, _ := f.GetString("grpc-listen")
			h, _ := f.GetString("http-listen")
			r, _ := f.GetString("raft-listen")
			iv, _ := f.GetDuration("interval")
			once, _ := f.GetBool("once")
			verbose, _ := f.GetBool("verbose")
			var log *slog.Logger
			if verbose {
				log = slog.New(slog.NewTextHandler(stderr, nil))
			}
			return demo.Run(cmd.Context(), demo.Options{GRPCListen: g, HTTPListen: h, RaftListen: r, Interval: iv, Once: once, Out: stdout, Logger: log})
		},
	}
	cmd.Flags().String("grpc-listen", "127.0.0.1:7400", "gRPC address")
	cmd.Flags().String("http-listen", "127.0.0.1:7401", "HTTP address")
	cmd.Flags().String("raft-listen", "127.0.0.1:7402", "raft address")
	cmd.Flags().Duration("interval", 15*time.Second, "agent check interval")
	cmd.Flags().Bool("once", false, "print the first report and exit")
	cmd.Flags().Bool("verbose", false, "log controller and agents to stderr")
	return cmd
}
