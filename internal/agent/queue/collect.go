package queue

import (
	"context"
	_ "embed" // the collector script
	"errors"
	"fmt"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

// collectorBody is run by package powershell after its prelude.
//
//go:embed collect.ps1
var collectorBody string

// CollectorProperties lists the Get-Queue properties the collector script
// selects, in order: every field Queue decodes (docs/queue-format.md).
var CollectorProperties = []string{
	"Identity", "NextHopDomain", "DeliveryType", "Status", "MessageCount", "LastError",
	"LastRetryTime", "NextRetryTime", "NextHopConnector", "TlsPolicy",
}

// CollectorScript returns the complete PowerShell queue collector.
func CollectorScript() string { return powershell.Script(collectorBody) }

// CollectQueues runs Get-Queue through the Exchange Management Shell on the
// local server (Windows only; elsewhere the error wraps
// powershell.ErrUnsupported) and returns its JSON (the mxprobe queue
// envelope, docs/queue-format.md), ready for ParseBytes. Errors wrap
// powershell.ErrCollectorFailed or powershell.ErrOutputTooLarge.
func CollectQueues(ctx context.Context, opts powershell.Options) ([]byte, error) {
	raw, err := powershell.Collect(ctx, opts, collectorBody)
	if errors.Is(err, powershell.ErrUnsupported) {
		return nil, fmt.Errorf("queue: %w: export Get-Queue on the Exchange server (docs/queue-format.md) and pass --queue-file FILE", err)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return raw, nil
}
