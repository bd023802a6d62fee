package checks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
)

// Check is one check against one target.
type Check interface {
	// Name is the check kind, e.g. "certstore".
	Name() string
	// Target names what it runs against, e.g. "pemdir:/etc/mx".
	Target() string
	// Run performs the check. It must honour ctx and never panic on bad input.
	Run(ctx context.Context) ([]*mxv1.Finding, error)
}

// Inventoried is a check that also lists what it read (a certificate store:
// every certificate), for the controller's inventory. RunAll calls it
// instead of Run.
type Inventoried interface {
	Check
	RunInventory(ctx context.Context) ([]*mxv1.Finding, []*mxv1.CertificateSummary, error)
}

// RunAll runs checks concurrently (at most parallel at once) and returns
// their results in the order of checks, with root causes linked across all
// of them (diagnose.Link; linking again is harmless).
func RunAll(ctx context.Context, cs []Check, parallel int) []*mxv1.CheckResult {
	if parallel <= 0 {
		parallel = 8
	}
	out := make([]*mxv1.CheckResult, len(cs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = runOne(ctx, c)
		}()
	}
	wg.Wait()
	diagnose.Link(out)
	return out
}

// safeRun runs c, turning a panic into an error so one broken check never
// takes the others down.
func safeRun(ctx context.Context, c Check) (fs []*mxv1.Finding, certs []*mxv1.CertificateSummary, err error) {
	defer func() {
		if p := recover(); p != nil {
			fs, certs, err = nil, nil, fmt.Errorf("%w: %s %s: %v", ErrCheckPanicked, c.Name(), c.Target(), p)
		}
	}()
	if ic, ok := c.(Inventoried); ok {
		return ic.RunInventory(ctx)
	}
	fs, err = c.Run(ctx)
	return fs, nil, err
}

func runOne(ctx context.Context, c Check) *mxv1.CheckResult {
	start := time.Now()
	fs, certs, err := safeRun(ctx, c)
	r := &mxv1.CheckResult{
		Check:     c.Name(),
		Target:    c.Target(),
		StartedAt: timestamppb.New(start),
		Duration:  durationpb.New(time.Since(start)),
		Findings:  fs,
		Status:    mxv1.CheckStatus_CHECK_STATUS_OK,
		// Certificates: what the check read, even when it also failed.
		Certificates: certs,
	}
	if err != nil {
		r.Status = mxv1.CheckStatus_CHECK_STATUS_ERROR
		r.Error = err.Error()
	} else if WorstSeverity(fs) >= mxv1.Severity_SEVERITY_ERROR {
		r.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
	}
	return r
}

// WorstSeverity is the highest severity among fs.
func WorstSeverity(fs []*mxv1.Finding) mxv1.Severity {
	var w mxv1.Severity
	for _, f := range fs {
		if f.GetSeverity() > w {
			w = f.GetSeverity()
		}
	}
	return w
}
