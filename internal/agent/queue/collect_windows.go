//go:build windows

package queue

import (
	"context"
	"os/exec"
	"syscall"
)

// createNoWindow is CREATE_NO_WINDOW: the agent runs as a service and the
// child must not allocate a console.
const createNoWindow = 0x08000000

// CollectQueues runs Get-Queue through the Exchange Management Shell on the
// local server and returns its JSON (the mxprobe queue envelope,
// docs/queue-format.md), ready for ParseBytes. It honours ctx and
// opts.Timeout, and bounds the output read to opts.MaxOutputBytes.
func CollectQueues(ctx context.Context, opts CollectOptions) ([]byte, error) {
	opts = opts.withDefaults()
	return runCollector(ctx, opts, opts.PowerShell, PowerShellArgs(), func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: createNoWindow}
	})
}
