// Package cli is the agent's command line (cobra): check, run, version.
// cmd/agent only wires signals to it, so tests drive the real commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/report"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/version"
)

// errExit carries an exit code through cobra.
type errExit struct{ code int }

func (e errExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Main runs the agent command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "agent",
		Short:         "mxprobe agent: diagnose Exchange/SMTP TLS on this server",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Long(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(checkCmd(stdout, stderr), preflightCmd(stdout, stderr), runCmd(stderr), inventoryCmd(stdout), enrollCmd(stdout), statusCmd(stdout), serviceCmd())
	err := root.ExecuteContext(ctx)
	var ee errExit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "agent:", err)
		return report.ExitRuntime
	}
}

func loadAgentConfig(cmd *cobra.Command) (config.Agent, error) {
	var c config.Agent
	file, _ := cmd.Flags().GetString("config")
	err := config.Load(config.AgentKeys(), file, cmd.Flags(), &c)
	return c, err
}

// pfxPasswordEnv holds one PFX password (environment only, never a flag).
const pfxPasswordEnv = "MXPROBE_PFX_PASSWORD"

// pfxPasswords are MXPROBE_PFX_PASSWORD, then the lines of
// pfx_password_file. Errors name the file, never its contents.
func pfxPasswords(c config.Agent) ([]string, error) {
	var pw []string
	if v := os.Getenv(pfxPasswordEnv); v != "" {
		pw = append(pw, v)
	}
	if c.PFXPasswordFile == "" {
		return pw, nil
	}
	b, err := os.ReadFile(c.PFXPasswordFile)
	if err != nil {
		return nil, fmt.Errorf("pfx_password_file (%s, --%s): %w", config.EnvName("pfx_password_file"), config.FlagName("pfx_password_file"), err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			pw = append(pw, l)
		}
	}
	return pw, nil
}

func builderFor(c config.Agent, tail bool, log *slog.Logger) (*checks.Builder, error) {
	pw, err := pfxPasswords(c)
	if err != nil {
		return nil, err
	}
	ehlo := c.EHLOName
	if ehlo == "" {
		ehlo = c.Hostname
	}
	return checks.NewBuilder(checks.Spec{
		CertStores: c.CertStores, Probes: c.Probes, ExpectName: c.ExpectName, CAFile: c.CAFile,
		ProbeTimeout: c.ProbeTimeout, EHLOName: ehlo, PFXPasswords: pw,
		Diagnose:          diagnose.Options{ExpiryWarning: c.Expiry.Warning, ExpiryError: c.Expiry.Error, Host: c.Hostname},
		ExchangeInventory: c.ExchangeInventory, ProtocolLogs: c.ProtocolLogs, QueueFile: c.QueueFile,
		ProbeSendConnector: c.ProbeSendConnector, TailLogs: tail, StateDir: c.StateDir, LogWindow: c.ProtocolLogWindow,
		MailDomains: c.MailDomains, DNSResolver: c.DNSResolver,
		EventLog: c.EventLog, EventLogFiles: c.EventLogFiles, EventLogWindow: c.EventLogWindow,
		Logger: log,
	})
}

func checkCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run every configured check once and print the findings (exit 0 ok, 2 findings at error or above, 1 error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := formatOf(cmd)
			if err != nil {
				return err
			}
			c, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			log, err := config.NewLogger(stderr, c.Log)
			if err != nil {
				return err
			}
			b, err := builderFor(c, false, log)
			if err != nil {
				return err
			}
			cs, err := b.All()
			if err != nil {
				return err
			}
			results := checks.RunAll(cmd.Context(), cs, 8)
			if format == "json" {
				err = report.WriteJSON(stdout, results)
			} else {
				err = report.WriteTable(stdout, results)
				if list, _ := cmd.Flags().GetBool("certificates"); err == nil && list {
					err = report.WriteCertificates(stdout, results)
				}
			}
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_ERROR {
					fmt.Fprintf(stderr, "agent: %s %s: %s\n", r.GetCheck(), r.GetTarget(), r.GetError())
				}
			}
			if code := report.ExitCode(results); code != 0 {
				return errExit{code}
			}
			return nil
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	addFormatFlag(cmd)
	cmd.Flags().Bool("certificates", false, "table format: also list every certificate of the scanned stores, keyless ones included")
	config.AddFlags(cmd.Flags(), config.AgentCheckKeys())
	return cmd
}

func runCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run checks on the controller's schedule and stream results to it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), c, stderr)
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	config.AddFlags(cmd.Flags(), config.AgentKeys())
	return cmd
}

// runAgent is `agent run` (also what the Windows service runs).
func runAgent(ctx context.Context, c config.Agent, logOut io.Writer) error {
	log, err := config.NewLogger(logOut, c.Log)
	if err != nil {
		return err
	}
	b, err := builderFor(c, true, log)
	if err != nil {
		return err
	}
	cs, err := b.All()
	if err != nil && !errors.Is(err, checks.ErrNoChecks) {
		return err
	}
	roles, err := parseRoles(c.Roles)
	if err != nil {
		return err
	}
	dial, renew, err := transport(ctx, &c, log)
	if err != nil {
		return err
	}
	r, err := runner.New(runner.Config{
		DialOptions: dial,
		Hello: &mxv1.Hello{
			AgentId: c.AgentID, Site: c.Site, Hostname: c.Hostname, Roles: roles, Version: version.String(),
		},
		Controllers:   c.Controllers,
		StateDir:      c.StateDir,
		SpoolMaxBytes: int64(c.SpoolMaxBytes),
		AckTimeout:    c.AckTimeout,
		InFlight:      c.BatchesInFlight,
		Checks:        cs,
		ProbeCheck:    b.Probe,
		Interval:      c.Interval,
		Jitter:        c.Interval / 10,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	log.Info("agent starting", "agent", c.AgentID, "site", c.Site, "checks", len(cs), "controllers", strings.Join(c.Controllers, ","))
	defer r.Close()
	if renew != nil {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan struct{})
		go func() { defer close(done); renew(ctx) }()
		defer func() { cancel(); <-done }()
	}
	err = r.Run(ctx)
	log.Info("agent stopped", "err", err)
	return err
}

func parseRoles(in []string) ([]mxv1.Role, error) {
	var out []mxv1.Role
	for _, s := range in {
		v, ok := mxv1.Role_value["ROLE_"+strings.ToUpper(strings.TrimSpace(s))]
		if !ok || v == 0 {
			return nil, fmt.Errorf("roles: unknown role %q (want edge, mailbox or mta)", s)
		}
		out = append(out, mxv1.Role(v))
	}
	return out, nil
}

// addFormatFlag adds --format (table or json) to cmd; formatOf reads it.
func addFormatFlag(cmd *cobra.Command) {
	cmd.Flags().String("format", "table", "output format: table or json")
}

func formatOf(cmd *cobra.Command) (string, error) {
	format, _ := cmd.Flags().GetString("format")
	if format != "table" && format != "json" {
		return "", fmt.Errorf("--format %q: want table or json", format)
	}
	return format, nil
}
