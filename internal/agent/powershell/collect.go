package powershell

import (
	"bytes"
	"context"
	_ "embed" // the collector prelude
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Collectors: an mxprobe collector is a PowerShell script body (embedded
// with go:embed by the package that owns what it collects) run after
// prelude.ps1, which gives it MxEmit, MxFail and MxUseExchange. The body
// emits exactly one JSON document with MxEmit; Collect runs it and returns
// that document. The marker protocol, the snap-in loading, the bounds and
// the error handling live here once; the exchange and queue collectors share
// them.

//go:embed prelude.ps1
var prelude string

// Markers around a collector's payload (written by MxEmit in prelude.ps1).
const (
	PayloadBegin = "MXPROBE-PAYLOAD-BEGIN"
	PayloadEnd   = "MXPROBE-PAYLOAD-END"
)

// ErrCollectorFailed: the collector ran but produced no usable payload: it
// reported an error (MxFail), wrote no or a truncated payload, or exited
// with an error before emitting one.
var ErrCollectorFailed = errors.New("powershell: collector failed")

// ErrUnsupported: collectors run only on Windows, where the Exchange
// Management Shell exists.
var ErrUnsupported = errors.New("powershell: collectors run only on Windows")

// Defaults for Options.
const (
	// DefaultPowerShell is Windows PowerShell 5.1: the Exchange snap-in does
	// not load in PowerShell 7.
	DefaultPowerShell = "powershell.exe"
	// DefaultTimeout bounds a run (loading the snap-in alone can take 30 s).
	DefaultTimeout = 3 * time.Minute
	// DefaultMaxOutputBytes bounds what is read from stdout.
	DefaultMaxOutputBytes = 16 << 20
)

// Options tunes a collector run. The zero value uses the defaults.
type Options struct {
	// PowerShell is the executable; default DefaultPowerShell.
	PowerShell string
	// Timeout bounds the whole run; the caller's context still applies.
	Timeout time.Duration
	// MaxOutputBytes bounds stdout; the process is stopped beyond it.
	MaxOutputBytes int64
}

// WithDefaults fills unset fields.
func (o Options) WithDefaults() Options {
	if o.PowerShell == "" {
		o.PowerShell = DefaultPowerShell
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return o
}

// Script returns the complete collector: the prelude, then body.
func Script(body string) string { return prelude + body }

// CollectorArgs are the arguments that run a collector body.
func CollectorArgs(body string) []string { return Args(Script(body)) }

// Collect runs the collector body with Windows PowerShell and returns its
// payload. Off Windows it returns ErrUnsupported.
func Collect(ctx context.Context, opts Options, body string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)
	}
	opts = opts.WithDefaults()
	return CollectWith(ctx, opts, opts.PowerShell, CollectorArgs(body))
}

// CollectWith runs name with args as a collector (Collect's engine, usable
// with a stand-in process in tests) and extracts the payload. Errors wrap
// ErrOutputTooLarge, ErrCollectorFailed (with ErrTimeout or the context's
// error when it ran out of time).
func CollectWith(ctx context.Context, opts Options, name string, args []string) ([]byte, error) {
	opts = opts.WithDefaults()
	res, err := Run(ctx, name, args, opts.Timeout, opts.MaxOutputBytes, hideWindow)
	switch {
	case errors.Is(err, ErrOutputTooLarge):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrCollectorFailed, err)
	}
	payload, extractErr := ExtractPayload(res.Stdout, int(opts.MaxOutputBytes))
	if extractErr == nil {
		return payload, nil
	}
	if res.RunErr != nil && !bytes.Contains(res.Stdout, []byte(PayloadBegin)) {
		return nil, fmt.Errorf("%w: %s: %w; stderr: %s", ErrCollectorFailed, name, res.RunErr, FirstLines(res.Stderr, 2000))
	}
	// The script's own message (MxFail) is the most precise one.
	return nil, extractErr
}

// ExtractPayload returns the JSON document a collector wrote between the
// markers; anything around them (snap-in banners, warnings) is ignored. A
// {"CollectorError": msg} document, missing or truncated markers, a payload
// that is not base64 or larger than maxBytes give ErrCollectorFailed.
func ExtractPayload(stdout []byte, maxBytes int) ([]byte, error) {
	b := bytes.Index(stdout, []byte(PayloadBegin))
	if b < 0 {
		return nil, fmt.Errorf("%w: no payload between markers (%d bytes of output)", ErrCollectorFailed, len(stdout))
	}
	rest := stdout[b+len(PayloadBegin):]
	e := bytes.Index(rest, []byte(PayloadEnd))
	if e < 0 {
		return nil, fmt.Errorf("%w: output truncated (no end marker)", ErrCollectorFailed)
	}
	enc := strings.Join(strings.Fields(string(rest[:e])), "")
	if maxBytes > 0 && base64.StdEncoding.DecodedLen(len(enc)) > maxBytes+2 {
		return nil, fmt.Errorf("%w: payload exceeds %d bytes", ErrCollectorFailed, maxBytes)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64: %v", ErrCollectorFailed, err)
	}
	if msg, ok := collectorError(raw); ok {
		return nil, fmt.Errorf("%w: %s", ErrCollectorFailed, msg)
	}
	return raw, nil
}

// collectorError reports MxFail's {"CollectorError": msg} document.
func collectorError(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(bytes.TrimPrefix(raw, []byte("\ufeff")))
	if len(raw) == 0 || raw[0] != '{' {
		return "", false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "", false
	}
	for k, v := range m {
		if !strings.EqualFold(k, "CollectorError") {
			continue
		}
		var msg string
		if json.Unmarshal(v, &msg) != nil || strings.TrimSpace(msg) == "" {
			msg = "unknown error"
		}
		return msg, true
	}
	return "", false
}
