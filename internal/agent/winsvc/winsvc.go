package winsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/config"
)

// Service identity.
const (
	Name        = "mxprobe-agent"
	DisplayName = "mxprobe agent"
	Description = "Diagnoses this server's mail TLS (certificate store, STARTTLS, protocol logs) and streams findings to the mxprobe controllers."
	// DefaultAccount is the virtual account Windows creates for the service.
	DefaultAccount = `NT SERVICE\` + Name
)

// ErrNotWindows is returned by the service commands on other systems.
var ErrNotWindows = errors.New("agent service: Windows services exist only on Windows; elsewhere run `agent run` under systemd, a container runtime or the Helm DaemonSet")

// Runner is the agent's run loop: it reads configFile, logs to logOut, and
// returns when ctx ends (SCM stop or shutdown) or on a fatal error.
type Runner func(ctx context.Context, configFile string, logOut io.Writer) error

// Paths are where the service keeps its files.
type Paths struct {
	Dir, ConfigFile, StateDir, LogDir, LogFile string
}

// PathsUnder lays the service's files out under programData (normally
// %ProgramData%). Windows separators regardless of the build host.
func PathsUnder(programData string) Paths {
	dir := winJoin(programData, "mxprobe")
	return Paths{
		Dir: dir, ConfigFile: winJoin(dir, "agent.yaml"), StateDir: winJoin(dir, "state"),
		LogDir: winJoin(dir, "logs"), LogFile: winJoin(dir, "logs", "agent.log"),
	}
}

// DefaultPaths uses %ProgramData% (C:\ProgramData when unset).
func DefaultPaths() Paths {
	pd := os.Getenv("ProgramData")
	if pd == "" {
		pd = `C:\ProgramData`
	}
	return PathsUnder(pd)
}

func winJoin(parts ...string) string {
	for i := range parts {
		if i > 0 {
			parts[i] = strings.Trim(parts[i], `\`)
		} else {
			parts[i] = strings.TrimRight(parts[i], `\`)
		}
	}
	return strings.Join(parts, `\`)
}

// InstallOptions are `agent service install`'s settings.
type InstallOptions struct {
	Paths       Paths
	ConfigFile  string // default Paths.ConfigFile
	Account     string // default DefaultAccount
	Password    string // only for a regular user account; from MXPROBE_SERVICE_PASSWORD
	DelayedAuto bool   // start after the boot's other automatic services (Exchange transport)
	// Written into a new config file (an existing one is kept as it is).
	Controllers      []string
	Site             string
	ControllerCAFile string // CA that signed the controllers' certificates
	Insecure         bool   // labs only: no TLS to the controllers
}

// StarterConfig is the agent.yaml that install writes when none exists: the
// controllers, the site, the state directory, and the machine's personal
// store. Strings are single-quoted YAML, so backslashes stay literal.
func StarterConfig(o InstallOptions) string {
	var b strings.Builder
	b.WriteString("# mxprobe agent configuration (docs/configuration.md); written by `agent service install`.\n")
	b.WriteString("# Restart the service after editing: agent service stop && agent service start\n")
	b.WriteString("controllers:\n")
	for _, c := range o.Controllers {
		fmt.Fprintf(&b, "  - %s\n", yamlQuote(c))
	}
	if o.Site != "" {
		fmt.Fprintf(&b, "site: %s\n", yamlQuote(o.Site))
	}
	if o.ControllerCAFile != "" {
		fmt.Fprintf(&b, "controller_ca_file: %s\n", yamlQuote(o.ControllerCAFile))
	}
	if o.Insecure {
		b.WriteString("# No TLS to the controllers: labs only.\ninsecure: true\n")
	}
	fmt.Fprintf(&b, "state_dir: %s\n", yamlQuote(o.Paths.StateDir))
	b.WriteString("cert_store:\n  - 'windows:LocalMachine\\My'\n")
	b.WriteString("log:\n  format: text\n")
	return b.String()
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// CheckConfig loads file with the agent's own loader, so install refuses a
// configuration the service would die on at start.
func CheckConfig(file string) error {
	var c config.Agent
	if err := config.Load(config.AgentKeys(), file, nil, &c); err != nil {
		return err
	}
	if len(c.Controllers) == 0 {
		return fmt.Errorf("%s: no controllers", file)
	}
	if c.ControllerCAFile == "" && !c.Insecure {
		return fmt.Errorf("%s: set controller_ca_file (the controllers' CA) or insecure: true (labs)", file)
	}
	return nil
}

// ServiceArgs are the arguments the SCM starts the executable with. --scm
// says that the Service Control Manager started it: x/sys's
// svc.IsWindowsService guesses that from the parent being services.exe in
// session 0, which Wine 8 (every process in session 1) and any future
// layout fail, and a service that guesses wrong never connects to the SCM
// (start times out, nothing is logged). --log-file is where install put
// the log directory and granted the service rights on it: the service's own
// environment may resolve %ProgramData% elsewhere (Wine 8's services.exe
// gives its services C:\users\Public).
func ServiceArgs(configFile, logFile string) []string {
	return []string{"service", "run", "--config", configFile, "--log-file", logFile, "--" + scmFlag}
}

const scmFlag = "scm"

// Command is `agent service`. run is the agent loop the service host runs.
func Command(run Runner) *cobra.Command {
	root := &cobra.Command{
		Use:   "service",
		Short: "Install and control the agent as a Windows service (" + Name + ")",
	}
	paths := DefaultPaths()
	var o InstallOptions
	installCmd := &cobra.Command{
		Use:   "install",
		Short: "Register the service (automatic start, restart on failure, Event Log source) and write a starter config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Paths = paths
			o.Password = os.Getenv("MXPROBE_SERVICE_PASSWORD")
			return install(o, cmd.OutOrStdout())
		},
	}
	installCmd.Flags().StringVar(&o.ConfigFile, "config", paths.ConfigFile, "configuration file the service reads")
	installCmd.Flags().StringVar(&o.Account, "account", DefaultAccount, `account the service runs as: the virtual account, a gMSA (DOMAIN\name$) or a user (password in MXPROBE_SERVICE_PASSWORD)`)
	installCmd.Flags().StringSliceVar(&o.Controllers, "controllers", nil, "controller gRPC addresses for a new config file (host:port, comma-separated)")
	installCmd.Flags().StringVar(&o.Site, "site", "", "site for a new config file")
	installCmd.Flags().StringVar(&o.ControllerCAFile, "controller-ca-file", "", "for a new config file: CA (PEM) that signed the controllers' certificates")
	installCmd.Flags().BoolVar(&o.Insecure, "insecure", false, "for a new config file: no TLS to the controllers (labs only)")
	installCmd.Flags().BoolVar(&o.DelayedAuto, "delayed-start", true, "automatic (delayed) start, after Exchange transport is up")

	uninstallCmd := &cobra.Command{
		Use: "uninstall", Short: "Stop and remove the service and its Event Log source (config, state and logs are kept)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return uninstall(cmd.OutOrStdout()) },
	}
	startCmd := &cobra.Command{
		Use: "start", Short: "Start the service", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return start(cmd.OutOrStdout()) },
	}
	stopCmd := &cobra.Command{
		Use: "stop", Short: "Stop the service and wait until it stopped", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return stop(cmd.OutOrStdout(), 60*time.Second) },
	}
	var configFile, logFile string
	var bySCM bool
	runSvc := &cobra.Command{
		Use: "run", Short: "Service entry point (started by the Service Control Manager)", Args: cobra.NoArgs, Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runService(cmd.Context(), run, configFile, logFile, bySCM)
		},
	}
	runSvc.Flags().StringVar(&configFile, "config", paths.ConfigFile, "configuration file")
	runSvc.Flags().StringVar(&logFile, "log-file", paths.LogFile, "log file (rotated at 10 MiB)")
	runSvc.Flags().BoolVar(&bySCM, scmFlag, false, "started by the Service Control Manager (set by install; without it the SCM is detected, else the agent runs in the foreground)")
	root.AddCommand(installCmd, uninstallCmd, startCmd, stopCmd, runSvc)
	return root
}
