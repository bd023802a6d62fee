// Package cli is the controller's command line (cobra). cmd/controller only
// wires signals to it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/api"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/pki"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
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
		Version:       version.Long(),
	}
	root.PersistentFlags().String("token", "", "API token for client commands (or MXPROBE_TOKEN); never logged")
	root.PersistentFlags().String("controller-ca-file", "", "CA (PEM) that signed the controllers' certificates, for an https --server (or "+controllerCAEnv+", as for agents)")
	root.PersistentFlags().String("ca-file", "", "")
	_ = root.PersistentFlags().MarkDeprecated("ca-file", "use --controller-ca-file (MXPROBE_CONTROLLER_CA_FILE)")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(runCmd(stderr), devCmd(stdout, stderr))
	root.AddCommand(clientCmds(stdout)...)
	root.AddCommand(tokensCmd(stdout), agentsAdminCmd(stdout))
	root.AddCommand(incidentsCmd(stdout), deliveriesCmd(stdout), tlsrptCmd(stdout), preflightCmd(stdout))
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
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
	if c.HTTP.MaxBodyBytes < 1<<10 || c.HTTP.MaxBodyBytes > node.MaxMessageBytes {
		return node.Config{}, fmt.Errorf("http.max_body_bytes %d: use 1024 to %d (the gRPC message limit behind the REST API)", c.HTTP.MaxBodyBytes, node.MaxMessageBytes)
	}
	if c.HTTP.MaxRestoreBytes < 1<<10 {
		return node.Config{}, fmt.Errorf("http.max_restore_bytes %d: use at least 1024", c.HTTP.MaxRestoreBytes)
	}
	if c.HTTP.BodyTimeout <= 0 {
		return node.Config{}, fmt.Errorf("http.body_timeout %s: must be positive", c.HTTP.BodyTimeout)
	}
	if c.TLSRPT.StaleGrace < time.Hour {
		return node.Config{}, fmt.Errorf("tlsrpt.stale_grace %s: use at least 1h (senders deliver a day's report hours after it ends)", c.TLSRPT.StaleGrace)
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
	notifyCfg, err := notifyConfig(c)
	if err != nil {
		return node.Config{}, err
	}
	if c.Insecure {
		log.Warn("INSECURE MODE: no authentication on the API or agent streams; use only in a lab")
	}
	return node.Config{
		NodeID: c.NodeID, DataDir: c.DataDir, DataDirLockTimeout: c.DataDirLock, Bootstrap: c.Bootstrap || c.BootstrapExpect == 1,
		BootstrapExpect: c.BootstrapExpect, RetryJoin: c.RetryJoin, DeadServerTimeout: c.Raft.DeadServerTimeout,
		SnapshotThreshold: uint64(c.SnapshotThreshold()), TLS: mtls,
		Insecure: c.Insecure, AgentCA: agentCA, AgentCertTTL: c.AgentCA.CertTTL, BootstrapToken: c.Auth.BootstrapToken,
		MetricsPublic: c.Auth.MetricsPublic, Pprof: c.Debug.Pprof, TokenRate: nonPositiveOff(c.Auth.TokenRate), AgentBatchRate: nonPositiveOff(c.Auth.AgentBatchRate),
		GRPCListen: c.GRPC.Listen, GRPCAdvertise: c.GRPC.Advertise, AgentAdvertise: c.GRPC.AgentAdvertise, HTTPListen: c.HTTP.Listen, HTTPAdvertise: c.HTTPAdvertise, TLSRPTListen: c.TLSRPT.Listen, TLSRPTExpireAfter: tlsrpt.ExpireAfter(c.TLSRPT.StaleGrace),
		RaftListen: c.Raft.Listen, RaftAdvertise: c.Raft.Advertise,
		BodyLimits:  api.BodyLimits{MaxBytes: int64(c.HTTP.MaxBodyBytes), MaxRestoreBytes: int64(c.HTTP.MaxRestoreBytes), Timeout: c.HTTP.BodyTimeout},
		Correlation: correlationConfig(c),
		Notify:      notifyCfg,
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
				return listenHint(err)
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
			if err := config.Load(devKeys(), "", cmd.Flags(), &c); err != nil {
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
				return listenHint(err)
			}
			fmt.Fprintf(stdout, "DEV MODE controller (no TLS, no auth, data in %s, deleted on exit)\n  gRPC (agents, API): %s\n  HTTP (REST, metrics): http://%s\n", dir, n.GRPCAddr(), n.HTTPAddr())
			return n.Run(cmd.Context())
		},
	}
	config.AddFlags(cmd.Flags(), devKeys())
	return cmd
}

// devKeys are controller dev's settings: without those dev decides itself
// (a temporary data_dir, a fresh one-node cluster, no TLS and no auth) and
// listening on loopback by default.
func devKeys() []config.Key {
	keys := config.Without(config.ControllerKeys(), "data_dir", "data_dir_lock_timeout", "bootstrap", "bootstrap_expect", "retry_join", "insecure", "tls", "agent_ca", "auth.bootstrap_token")
	keys = config.WithDefault(keys, "grpc.listen", "127.0.0.1:7400")
	return config.WithDefault(keys, "http.listen", "127.0.0.1:7401")
}

// nonPositiveOff maps a configured rate of 0 or less to "no limit" (-1).
func nonPositiveOff(v float64) float64 {
	if v <= 0 {
		return -1
	}
	return v
}

// listenHint names the setting (flag, env, key) that moves an address
// another process holds.
func listenHint(err error) error {
	var le *node.ListenError
	if errors.As(err, &le) && le.InUse() {
		return fmt.Errorf("%s is in use (another controller running?): %w; choose another address with --%s (%s, or %s in the configuration file)",
			le.Addr, err, config.FlagName(le.Setting), config.EnvName(le.Setting), le.Setting)
	}
	return err
}
