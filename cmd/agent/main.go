// Command agent is mxprobe's agent: it runs next to an Exchange or MTA server,
// diagnoses its mail TLS, and streams findings to the controller
// (`agent run`), or prints them once for an admin (`agent check`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxprobe/mxprobe/internal/agent/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code != 0 {
		os.Exit(code)
	}
}
