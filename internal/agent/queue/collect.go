package queue

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

// CollectOptions tunes CollectQueues.
type CollectOptions struct {
	// PowerShell is the executable; default "powershell.exe" (Windows
	// PowerShell 5.1: the Exchange snap-in does not load in PowerShell 7).
	PowerShell string
	// Timeout bounds the whole run (loading the snap-in alone can take
	// 30 s); default 3 minutes. The caller's context still applies.
	Timeout time.Duration
	// MaxOutputBytes bounds what is read from the collector's stdout;
	// default 16 MiB.
	MaxOutputBytes int64
}

// Defaults for CollectOptions.
const (
	DefaultPowerShell     = "powershell.exe"
	DefaultCollectTimeout = 3 * time.Minute
	DefaultMaxOutputBytes = 16 << 20
	maxStderrBytes        = 64 << 10
)

func (o CollectOptions) withDefaults() CollectOptions {
	if o.PowerShell == "" {
		o.PowerShell = DefaultPowerShell
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultCollectTimeout
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return o
}

// Markers around the collector's payload, so that banners or warnings the
// snap-in prints do not corrupt it.
const (
	collectorBegin = "MXPROBE-QUEUE-BEGIN"
	collectorEnd   = "MXPROBE-QUEUE-END"
)

// CollectorProperties lists the Get-Queue properties the collector script
// selects, in order: every field Queue decodes (docs/queue-format.md).
var CollectorProperties = []string{
	"Identity", "NextHopDomain", "DeliveryType", "Status", "MessageCount", "LastError",
	"LastRetryTime", "NextRetryTime", "NextHopConnector", "TlsPolicy",
}

// collectorScript is run by Windows PowerShell 5.1 (3.0 at least:
// ConvertTo-Json and [ordered]). It loads the Exchange snap-in when Get-Queue
// is not already present (Edge Transport and Exchange 2013+ Mailbox:
// Microsoft.Exchange.Management.PowerShell.SnapIn; Exchange 2010:
// .E2010), runs Get-Queue on the local server and writes the mxprobe queue
// envelope (docs/queue-format.md) as base64(UTF-8) between marker lines, so
// console code pages and stray output cannot corrupt it. The queue objects
// are Get-Queue | Select-Object ... | ConvertTo-Json -Depth 3 output, one
// level deeper inside the envelope (hence -Depth 4). Identity is written as
// its display string (SERVER\RowId) rather than as a QueueIdentity object.
// On failure it writes {"CollectorError": msg} the same way and exits 2.
const collectorScript = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
function MxEmit([string]$json) {
  $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
  [Console]::Out.WriteLine('` + collectorBegin + `')
  [Console]::Out.WriteLine($b64)
  [Console]::Out.WriteLine('` + collectorEnd + `')
  [Console]::Out.Flush()
}
try {
  if (-not (Get-Command Get-Queue -ErrorAction SilentlyContinue)) {
    $loaded = $false
    foreach ($sn in @('Microsoft.Exchange.Management.PowerShell.SnapIn', 'Microsoft.Exchange.Management.PowerShell.E2010')) {
      if (Get-PSSnapin -Registered -Name $sn -ErrorAction SilentlyContinue) {
        Add-PSSnapin -Name $sn
        $loaded = $true
        break
      }
    }
    if (-not $loaded) { throw 'no Exchange Management Shell snap-in (Microsoft.Exchange.Management.PowerShell.SnapIn or .E2010) is registered on this computer' }
  }
  $queues = @(Get-Queue | Select-Object @{Name = 'Identity'; Expression = { [string]$_.Identity }},NextHopDomain,DeliveryType,Status,MessageCount,LastError,LastRetryTime,NextRetryTime,NextHopConnector,TlsPolicy)
  $out = [ordered]@{
    format = 'mxprobe-queue/1'
    server = [string]$env:COMPUTERNAME
    collected = [DateTime]::UtcNow.ToString('o')
    queues = $queues
  }
  MxEmit (ConvertTo-Json -InputObject $out -Depth 4 -Compress)
  exit 0
} catch {
  $msg = [string]$_.Exception.Message
  MxEmit ((New-Object PSObject -Property @{ CollectorError = $msg }) | ConvertTo-Json -Compress)
  exit 2
}
`

// CollectorScript returns the PowerShell queue collector script.
func CollectorScript() string { return collectorScript }

// PowerShellArgs returns the arguments CollectQueues passes to PowerShell
// (-EncodedCommand avoids every quoting problem of the Windows command line;
// the encoding is the exchange collector's).
func PowerShellArgs() []string {
	return []string{"-NoProfile", "-NonInteractive", "-NoLogo", "-EncodedCommand", powershell.EncodeCommand(collectorScript)}
}

// ExtractCollectorOutput returns the JSON payload the collector wrote
// between its markers (anything around them, such as snap-in banners and
// warnings, is ignored), ready for ParseBytes. A {"CollectorError": ...}
// payload, missing markers or a malformed payload give an error wrapping
// ErrCollectorFailed; a payload over MaxInputBytes gives ErrTooLarge.
func ExtractCollectorOutput(stdout []byte) ([]byte, error) {
	b := bytes.Index(stdout, []byte(collectorBegin))
	if b < 0 {
		return nil, fmt.Errorf("%w: no Get-Queue output between markers (%d bytes of output)", ErrCollectorFailed, len(stdout))
	}
	rest := stdout[b+len(collectorBegin):]
	e := bytes.Index(rest, []byte(collectorEnd))
	if e < 0 {
		return nil, fmt.Errorf("%w: Get-Queue output truncated (no end marker)", ErrCollectorFailed)
	}
	payload := strings.Join(strings.Fields(string(rest[:e])), "")
	if base64.StdEncoding.DecodedLen(len(payload)) > MaxInputBytes+2 {
		return nil, fmt.Errorf("%w: collector payload exceeds %d bytes", ErrTooLarge, MaxInputBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: Get-Queue payload is not base64: %v", ErrCollectorFailed, err)
	}
	if len(raw) > MaxInputBytes {
		return nil, fmt.Errorf("%w: collector payload exceeds %d bytes", ErrTooLarge, MaxInputBytes)
	}
	if msg, ok := collectorError(raw); ok {
		return nil, fmt.Errorf("%w: %s", ErrCollectorFailed, msg)
	}
	return raw, nil
}

// collectorError reports the script's {"CollectorError": msg} payload.
func collectorError(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(decodeText(raw))
	if len(raw) == 0 || raw[0] != '{' {
		return "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "", false
	}
	for k, v := range m {
		if strings.EqualFold(k, "CollectorError") {
			msg := looseString(v)
			if msg == "" {
				msg = "unknown error"
			}
			return msg, true
		}
	}
	return "", false
}

// runCollector runs name args, bounded by opts, and returns the extracted
// payload. configure adjusts the command before it starts (Windows: no
// console window). It is platform-neutral so that its bounds and error
// handling are tested everywhere with a stand-in process.
func runCollector(ctx context.Context, opts CollectOptions, name string, args []string, configure func(*exec.Cmd)) ([]byte, error) {
	res, err := powershell.Run(ctx, name, args, opts.Timeout, opts.MaxOutputBytes, configure)
	switch {
	case errors.Is(err, powershell.ErrOutputTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrOutputTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrCollectorFailed, err)
	}
	raw, extractErr := ExtractCollectorOutput(res.Stdout)
	if extractErr == nil {
		return raw, nil
	}
	if res.RunErr != nil {
		// The script's own error (CollectorError) is the most precise message.
		if bytes.Contains(res.Stdout, []byte(collectorBegin)) {
			return nil, extractErr
		}
		return nil, fmt.Errorf("%w: %s: %w; stderr: %s", ErrCollectorFailed, name, res.RunErr, powershell.FirstLines(res.Stderr, 2000))
	}
	return nil, extractErr
}
