package checks

import (
	"context"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
)

// Queue reads a Get-Queue export (docs/queue-format.md) and reports queues
// stuck with TLS failure signatures.
type Queue struct {
	File string
	Diag diagnose.Options
}

func (c *Queue) Name() string   { return "queue" }
func (c *Queue) Target() string { return c.File }

func (c *Queue) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	snap, err := queue.ParseFile(ctx, c.File)
	if err != nil {
		return nil, fmt.Errorf("queue file %s: %w", c.File, err)
	}
	return diagnose.Queues(snap, c.Diag), nil
}
