package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/mxprobe/mxprobe/internal/agent/winsvc"
	"github.com/mxprobe/mxprobe/internal/config"
)

// serviceCmd is `agent service install|uninstall|start|stop|run` (Windows).
// The service runs the same loop as `agent run`, from its configuration file.
func serviceCmd() *cobra.Command {
	return winsvc.Command(func(ctx context.Context, configFile string, logOut io.Writer) error {
		var c config.Agent
		if err := config.Load(config.AgentKeys(), configFile, nil, &c); err != nil {
			return err
		}
		return runAgent(ctx, c, logOut)
	})
}
