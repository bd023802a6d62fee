package checks

import (
	"context"
	"fmt"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
)

// EventLog diagnoses Exchange transport and Schannel events, read from the
// live Event Log (Windows) or from exported .evtx files.
//
// Window bounds how far back events count: for the live log from now, for
// a file from its newest wanted event (a file handed over days later still
// shows the hours before it was exported). 0 reads everything.
type EventLog struct {
	Sources []eventlog.Source
	Window  time.Duration
	Diag    diagnose.Options
	// Now is the clock for the live log's window (default time.Now).
	Now func() time.Time
}

func (c *EventLog) Name() string { return "event_log" }

func (c *EventLog) Target() string {
	var names []string
	for _, s := range c.Sources {
		names = append(names, s.Name())
	}
	return strings.Join(names, ",")
}

func (c *EventLog) Run(ctx context.Context) ([]*mxv1.Finding, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	var evs []eventlog.Event
	for _, s := range c.Sources {
		q := eventlog.Query{}
		_, isFile := s.(*eventlog.File)
		if c.Window > 0 && !isFile {
			q.Since = now().Add(-c.Window)
		}
		res, err := s.Read(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("event log %s: %w", s.Name(), err)
		}
		got := res.Events
		if c.Window > 0 && isFile && len(got) > 0 {
			newest := got[len(got)-1].Time
			for _, e := range got {
				newest = later(newest, e.Time)
			}
			cut := newest.Add(-c.Window)
			got = got[:0:0]
			for _, e := range res.Events {
				if !e.Time.Before(cut) {
					got = append(got, e)
				}
			}
		}
		evs = append(evs, got...)
	}
	return diagnose.Events(evs, c.Diag), nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
