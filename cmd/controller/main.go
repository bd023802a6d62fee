// Command controller is mxprobe's controller: a raft-replicated node that
// ingests agent streams and serves the API (`controller run`), a throwaway
// one-node cluster (`controller dev`), and API client commands. The
// self-contained demo is its own binary, cmd/mxdemo.
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
