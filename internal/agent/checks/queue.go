package checks

import (
	"context"
	"fmt"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/powershell"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
)

// CollectQueues is the queue_file value that runs Get-Queue live through
// the Exchange Management Shell (Windows only) instead of reading a file.
const CollectQueues = "collect"

// Queue reads a Get-Queue export (docs/queue-format.md), or collects one
// live when File is CollectQueues, and reports queues stuck with TLS
// failure signatures.
type Queue struct {
	File    string
	Diag    diagnose.Options
	Collect powershell.Options
	// collect replaces queue.CollectQueues in tests.
	collect func(context.Context, powershell.Options) ([]byte, error)
}

func (c *Queue) Name() string   { return "queue" }
func (c *Queue) Target() string { return c.File }

func (c *Queue) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	if c.File == CollectQueues {
		collect := c.collect
		if collect == nil {
			collect = queue.CollectQueues
		}
		raw, err := collect(ctx, c.Collect)
		if err != nil {
			return nil, fmt.Errorf("collect Get-Queue: %w", err)
		}
		snap, err := queue.ParseBytes(raw)
		if err != nil {
			return nil, fmt.Errorf("parse collected Get-Queue output: %w", err)
		}
		return append(diagnose.Queues(snap, c.Diag), diagnose.QueueDANE(snap, c.Diag)...), nil
	}
	snap, err := queue.ParseFile(ctx, c.File)
	if err != nil {
		return nil, fmt.Errorf("queue file %s: %w", c.File, err)
	}
	return append(diagnose.Queues(snap, c.Diag), diagnose.QueueDANE(snap, c.Diag)...), nil
}
