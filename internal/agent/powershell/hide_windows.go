//go:build windows

package powershell

import (
	"os/exec"
	"syscall"
)

// createNoWindow is CREATE_NO_WINDOW: the agent runs as a service and the
// child must not allocate a console.
const createNoWindow = 0x08000000

func hideWindow(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true, CreationFlags: createNoWindow}
}
