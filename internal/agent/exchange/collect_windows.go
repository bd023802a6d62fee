//go:build windows

package exchange

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// createNoWindow is CREATE_NO_WINDOW: the agent runs as a service and the
// child must not allocate a console.
const createNoWindow = 0x08000000

// Collect runs the PowerShell collector on the local Exchange server and
// returns its inventory. It honours ctx and opts.Timeout, and bounds the
// output read to opts.MaxOutputBytes.
func Collect(ctx context.Context, opts CollectOptions) (*Inventory, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	cmd := exec.CommandContext(ctx, opts.PowerShell, PowerShellArgs()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: createNoWindow}
	// Grandchildren holding the pipes must not keep Wait from returning.
	cmd.WaitDelay = 5 * time.Second
	stdout := &limitedBuffer{max: opts.MaxOutputBytes, onOverflow: cancel}
	stderr := &limitedBuffer{max: maxStderrBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	runErr := cmd.Run()
	if stdout.Overflowed() {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, opts.MaxOutputBytes)
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: PowerShell did not finish in time (limit %s): %w", ErrCollectorFailed, opts.Timeout, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrCollectorFailed, err)
	}
	inv, parseErr := ParseCollectorOutput(stdout.Bytes())
	if parseErr == nil {
		return inv, nil
	}
	if runErr != nil {
		// The script's own error (CollectorError) is the most precise message.
		if errors.Is(parseErr, ErrCollectorFailed) && stdoutHasPayload(stdout.Bytes()) {
			return nil, parseErr
		}
		return nil, fmt.Errorf("%w: %s: %w; stderr: %s", ErrCollectorFailed, opts.PowerShell, runErr, firstLines(stderr.Bytes(), 2000))
	}
	return nil, parseErr
}
