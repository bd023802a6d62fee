// Command mxdemo runs mxprobe's main job on embedded defaults, with nothing to
// install (internal/demo): a one-node controller, a lab of deliberately
// broken SMTP servers on loopback, and agents in two sites, then prints what
// they found and the incidents they were correlated into.
//
//	go run ./cmd/mxdemo          # keeps running; Ctrl-C stops it
//	go run ./cmd/mxdemo --once   # print the report and exit
//
// It is a separate binary so that the production controller links no agent
// and no lab code. Everything it starts is labelled DEMO: no TLS to the
// controller, no API authentication, loopback only.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxprobe/mxprobe/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code != 0 {
		os.Exit(code)
	}
}
