// Package cli is the controller's command line (cobra). cmd/controller only
// wires signals to it.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/tlsutil"
	"github.com/mxprobe/mxprobe/internal/version"
)

// Main runs the controller command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "controller",
		Short:         "mxprobe controller: correlate agents' mail TLS findings, serve the API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.PersistentFlags().String("token", "", "API token for client commands (or MXPROBE_TOKEN); never logged")
	root.PersistentFlags().String("ca-file", "", "CA (PEM) that signed the controllers' certificates, for https --server (or MXPROBE_CA_FILE)")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(runCmd(stderr), devCmd(stdout, stderr), demoCmd(stdout, stderr))
	root.AddCommand(clientCmds(stdout)...)
	root.AddCommand(tokensCmd(stdout), agentsAdminCmd(stdout))
	root.AddCommand(incidentsCmd(stdout))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "controller:", err)
		return 1
	}
	return 0
}

func nodeConfig(c config.Controller, log *slog.Logger) (node.Config, error) {
	if c.Bootstrap && c.BootstrapExpect > 0 {
		return node.Config{}, fmt.Errorf("bootstrap and bootstrap_expect are exclusive")
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > 9 {
		return node.Config{}, fmt.Errorf("bootstrap_expect %d: use 1, 3 or 5", c.BootstrapExpect)
	}
	if c.BootstrapExpect > 1 && len(c.RetryJoin) == 0 {
		return node.Config{}, fmt.Errorf("bootstrap_expect %d needs retry_join addresses of the other nodes", c.BootstrapExpect)
	}
	if c.SnapshotThreshold() < 0 {
		return node.Config{}, fmt.Errorf("raft.snapshot_threshold must be positive")
	}
	mtls, err := tlsutil.LoadMutual(c.TLS.CertFile, c.TLS.KeyFile, c.TLS.CAFile)
	if err != nil {
		return node.Config{}, err
	}
	var agentCA *pki.CA
	if c.AgentCA.CertFile != "" || c.AgentCA.KeyFile != "" {
		if agentCA, err = pki.Load(c.AgentCA.CertFile, c.AgentCA.KeyFile); err != nil {
			return node.Config{}, err
		}
	}
	if c.Insecure {
		log.Warn("INSECURE MODE: no authentication on the API or agent streams; use only in a lab")
	}
	return node.Config{
		NodeID: c.NodeID, DataDir: c.DataDir, Bootstrap: c.Bootstrap || c.BootstrapExpect == 1,
		BootstrapExpect: c.BootstrapExpect, RetryJoin: c.RetryJoin, DeadServerTimeout: c.Raft.DeadServerTimeout,
		SnapshotThreshold: uint64(c.SnapshotThreshold()), TLS: mtls,
		Insecure: c.Insecure, AgentCA: agentCA, AgentCertTTL: c.AgentCA.CertTTL, BootstrapToken: c.Auth.BootstrapToken,
		MetricsPublic: c.Auth.MetricsPublic, Pprof: c.Debug.Pprof, TokenRate: nonPositiveOff(c.Auth.TokenRate), AgentBatchRate: nonPositiveOff(c.Auth.AgentBatchRate),
		GRPCListen: c.GRPC.Listen, GRPCAdvertise: c.GRPC.Advertise, AgentAdvertise: c.GRPC.AgentAdvertise, HTTPListen: c.HTTP.Listen, HTTPAdvertise: c.HTTPAdvertise,
		RaftListen: c.Raft.Listen, RaftAdvertise: c.Raft.Advertise,
		Correlation: correlationConfig(c),
		Notify:      notifyConfig(c),
		Plan:        ingest.Plan{Interval: c.Plan.Interval, Jitter: c.Plan.Jitter, ProbeTimeout: c.Plan.ProbeTimeout, ProbeTargets: c.Plan.ProbeTargets},
		Logger:      log,
	}, nil
}

func runCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a controller node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c config.Controller
			file, _ := cmd.Flags().GetString("config")
			if err := config.Load(config.ControllerKeys(), file, cmd.Flags(), &c); err != nil {
				return err
			}
			log, err := config.NewLogger(stderr, c.Log)
			if err != nil {
				return err
			}
			nc, err := nodeConfig(c, log)
			if err != nil {
				return err
			}
			n, err := node.Start(cmd.Context(), nc)
			if err != nil {
				return err
			}
			return n.Run(cmd.Context())
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	config.AddFlags(cmd.Flags(), config.ControllerKeys())
	return cmd
}

func devCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a throwaway one-node cluster in a temporary directory (DEV MODE: no TLS, no auth)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c config.Controller
			if err := config.Load(config.ControllerKeys(), "", cmd.Flags(), &c); err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "mxprobe-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			c.DataDir, c.Bootstrap, c.Insecure = dir, true, true
			log, err := config.NewLogger(stderr, c.Log)
			if err != nil {
				return err
			}
			nc, err := nodeConfig(c, log)
			if err != nil {
				return err
			}
			n, err := node.Start(cmd.Context(), nc)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "DEV MODE controller (no TLS, no auth, data in %s, deleted on exit)\n  gRPC (agents, API): %s\n  HTTP (REST, metrics): http://%s\n", dir, n.GRPCAddr(), n.HTTPAddr())
			return n.Run(cmd.Context())
		},
	}
	config.AddFlags(cmd.Flags(), config.ControllerKeys())
	_ = cmd.Flags().Set("grpc-listen", "127.0.0.1:7400")
	_ = cmd.Flags().Set("http-listen", "127.0.0.1:7401")
	return cmd
}

// nonPositiveOff maps a configured rate of 0 or less to "no limit" (-1).
func nonPositiveOff(v float64) float64 {
	if v <= 0 {
		return -1
	}
	return v
}
