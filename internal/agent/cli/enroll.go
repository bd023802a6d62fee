package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/mxprobe/mxprobe/internal/agent/enroll"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/identity"
)

// transport returns the gRPC dial options for agent run (mTLS with the
// enrolled certificate, or plaintext in insecure mode) and the renewal loop.
// The site comes from the certificate (the controller refuses a Hello that
// claims another), so it overrides the configured one.
func transport(ctx context.Context, c *config.Agent, log *slog.Logger) ([]grpc.DialOption, func(context.Context), error) {
	if c.Insecure {
		log.Warn("INSECURE MODE: streaming to the controller without TLS or a client certificate")
		return nil, nil, nil
	}
	if c.ControllerCAFile == "" {
		return nil, nil, fmt.Errorf("controller_ca_file is required to verify controllers (or insecure: true for a lab)")
	}
	serverTLS, err := enroll.ServerTLS(c.ControllerCAFile, "")
	if err != nil {
		return nil, nil, err
	}
	creds, err := enroll.Load(c.StateDir)
	if errors.Is(err, enroll.ErrNotEnrolled) && os.Getenv("MXPROBE_JOIN_TOKEN") != "" {
		creds, err = enrollAtStart(ctx, c, serverTLS, os.Getenv("MXPROBE_JOIN_TOKEN"), log)
	}
	if err != nil {
		return nil, nil, err
	}
	id, err := identity.Of(creds.Leaf())
	if err != nil {
		return nil, nil, fmt.Errorf("certificate in %s: %w", c.StateDir, err)
	}
	if id.AgentID != c.AgentID {
		return nil, nil, fmt.Errorf("agent_id %q differs from the enrolled identity %q (state_dir %s)", c.AgentID, id.AgentID, c.StateDir)
	}
	if c.Site != id.Site {
		log.Info("site taken from the agent certificate", "configured", c.Site, "certificate", id.Site)
		c.Site = id.Site
	}
	opt := grpc.WithTransportCredentials(credentials.NewTLS(creds.TLS(serverTLS)))
	renew := func(ctx context.Context) {
		creds.RenewLoop(ctx, func() (*grpc.ClientConn, error) {
			return grpc.NewClient(c.Controllers[0], opt, grpc.WithDisableServiceConfig())
		}, log)
	}
	return []grpc.DialOption{opt}, renew, nil
}

// enrollAtStart is `agent run` on a host not enrolled yet with
// MXPROBE_JOIN_TOKEN set (containers, unattended installs): it enrolls
// through any controller, retrying while none answers (they may still be
// starting), and gives up at once when the token is refused.
func enrollAtStart(ctx context.Context, c *config.Agent, serverTLS *tls.Config, token string, log *slog.Logger) (*enroll.Creds, error) {
	delay := time.Second
	for attempt := 0; ; attempt++ {
		addr := c.Controllers[attempt%len(c.Controllers)]
		log.Info("not enrolled yet: enrolling with the join token from MXPROBE_JOIN_TOKEN", "controller", addr)
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		creds, err := enroll.Enroll(actx, addr, serverTLS, token, c.AgentID, c.Hostname, c.StateDir)
		cancel()
		if err == nil {
			id, _ := identity.Of(creds.Leaf())
			log.Info("enrolled", "agent", id.AgentID, "site", id.Site, "not_after", creds.Leaf().NotAfter)
			return creds, nil
		}
		switch status.Code(err) {
		case codes.Unauthenticated, codes.PermissionDenied, codes.InvalidArgument, codes.FailedPrecondition:
			return nil, fmt.Errorf("enrolling with MXPROBE_JOIN_TOKEN: %w", err)
		}
		log.Warn("enrollment failed, retrying", "controller", addr, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func enrollCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enroll",
		Short: "Get this agent's client certificate: creates a key in state_dir (it never leaves the host) and exchanges a CSR and a join token for a certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadAgentConfig(cmd)
			if err != nil {
				return err
			}
			token, _ := cmd.Flags().GetString("token")
			if token == "" {
				token = os.Getenv("MXPROBE_JOIN_TOKEN")
			}
			if token == "" {
				return fmt.Errorf("--token (or MXPROBE_JOIN_TOKEN) is required: create one with controller tokens create --kind join --site SITE")
			}
			controller, _ := cmd.Flags().GetString("controller")
			if controller == "" {
				controller = c.Controllers[0]
			}
			if c.ControllerCAFile == "" {
				return fmt.Errorf("controller_ca_file is required to verify the controller")
			}
			serverTLS, err := enroll.ServerTLS(c.ControllerCAFile, "")
			if err != nil {
				return err
			}
			creds, err := enroll.Enroll(cmd.Context(), controller, serverTLS, token, c.AgentID, c.Hostname, c.StateDir)
			if err != nil {
				return err
			}
			id, _ := identity.Of(creds.Leaf())
			fmt.Fprintf(stdout, "enrolled %s in site %s; certificate valid until %s (renewed automatically by agent run); key and certificate in %s\n",
				id.AgentID, id.Site, creds.Leaf().NotAfter.Format("2006-01-02 15:04 MST"), c.StateDir)
			return nil
		},
	}
	cmd.Flags().String("config", "", "YAML configuration file")
	cmd.Flags().String("controller", "", "gRPC address of any controller node (default: the first of controllers)")
	cmd.Flags().String("token", "", "join token (or MXPROBE_JOIN_TOKEN); never logged")
	config.AddFlags(cmd.Flags(), config.AgentEnrollKeys())
	return cmd
}
