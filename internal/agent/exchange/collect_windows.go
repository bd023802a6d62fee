//go:build windows

package exchange

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

// createNoWindow is CREATE_NO_WINDOW: the agent runs as a service and the
// child must not allocate a console.
const createNoWindow = 0x08000000

// Collect runs the PowerShell collector on the local Exchange server and
// returns its inventory. It honours ctx and opts.Timeout, and bounds the
// output read to opts.MaxOutputBytes.
func Collect(ctx context.Context, opts CollectOptions) (*Inventory, error) {
	opts = opts.withDefaults()
	res, err := powershell.Run(ctx, opts.PowerShell, PowerShellArgs(), opts.Timeout, opts.MaxOutputBytes, func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: createNoWindow}
	})
	switch {
	case errors.Is(err, powershell.ErrOutputTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrOutputTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrCollectorFailed, err)
	}
	inv, parseErr := ParseCollectorOutput(res.Stdout)
	if parseErr == nil {
		return inv, nil
	}
	if res.RunErr != nil {
		// The script's own error (CollectorError) is the most precise message.
		if errors.Is(parseErr, ErrCollectorFailed) && stdoutHasPayload(res.Stdout) {
			return nil, parseErr
		}
		return nil, fmt.Errorf("%w: %s: %w; stderr: %s", ErrCollectorFailed, opts.PowerShell, res.RunErr, powershell.FirstLines(res.Stderr, 2000))
	}
	return nil, parseErr
}
