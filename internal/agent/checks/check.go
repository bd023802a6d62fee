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

// Session is a check that also reports the TLS session it negotiated (a
// live probe). RunAll calls it instead of Run.
type Session interface {
	Check
	RunSession(ctx context.Context) ([]*mxv1.Finding, *mxv1.TLSSession, error)
}

// RunAll runs checks concurrently (at most parallel at once) and returns
// their results in the order of checks, with root causes linked across all
// of them (diagnose.Link; linking again is harmless). The checks read the
// Exchange configuration and each certificate store once between them
// (roundmemo.go).
func RunAll(ctx context.Context, cs []Check, parallel int) []*mxv1.CheckResult {
	if parallel <= 0 {
		parallel = 8
	}
	ctx = withRoundMemo(ctx)
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
	// Linking may raise a finding that observed behaviour proves worse
	// than its check alone could tell.
	for _, r := range out {
		if r.Status == mxv1.CheckStatus_CHECK_STATUS_OK && WorstSeverity(r.Findings) >= mxv1.Severity_SEVERITY_ERROR {
			r.Status = mxv1.CheckStatus_CHECK_STATUS_FAIL
		}
	}
	return out
}

// safeRun runs c, turning a panic into an error so one broken check never
// takes the others down.
func safeRun(ctx context.Context, c Check) (fs []*mxv1.Finding, certs []*mxv1.CertificateSummary, sess *mxv1.TLSSession, doc []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			fs, certs, sess, doc, err = nil, nil, nil, nil, fmt.Errorf("%w: %s %s: %v", ErrCheckPanicked, c.Name(), c.Target(), p)
		}
	}()
	switch ic := c.(type) {
	case Inventoried:
		fs, certs, err = ic.RunInventory(ctx)
		return fs, certs, nil, nil, err
	case Session:
		fs, sess, err = ic.RunSession(ctx)
		return fs, nil, sess, nil, err
	case Exchanged:
		var inv *Inventory
		fs, inv, err = ic.RunExchange(ctx)
		if inv != nil {
			certs, doc = inv.Certificates, inv.Document
		}
		return fs, certs, nil, doc, err
	}
	fs, err = c.Run(ctx)
	return fs, nil, nil, nil, err
}

func runOne(ctx context.Context, c Check) *mxv1.CheckResult {
	start := time.Now()
	fs, certs, sess, doc, err := safeRun(ctx, c)
	r := &mxv1.CheckResult{
		Check:     c.Name(),
		Target:    c.Target(),
		StartedAt: timestamppb.New(start),
		Duration:  durationpb.New(time.Since(start)),
		Findings:  fs,
		Status:    mxv1.CheckStatus_CHECK_STATUS_OK,
		// Certificates: what the check read, even when it also failed.
		Certificates:      certs,
		Tls:               sess,
		ExchangeInventory: doc,
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
