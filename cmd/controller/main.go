// Command controller is mxprobe's controller: a raft-replicated node that
// ingests agent streams and serves the API (`controller run`), a throwaway
// one-node cluster (`controller dev`), the self-contained demo
// (`controller demo`), and API client commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxprobe/mxprobe/internal/controller/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code != 0 {
		os.Exit(code)
	}
}
