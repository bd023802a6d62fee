package web

import (
	"fmt"
	"net/http"
	"time"
)

// events streams Server-Sent Events: "change" with the applied raft index
// whenever it moved since the last poll. A stream lives at most MaxStream
// (the browser's EventSource reconnects), ends when the client goes away,
// and at most MaxStreams run at once.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	select {
	case h.streams <- struct{}{}:
		defer func() { <-h.streams }()
	default:
		http.Error(w, "too many live streams; retry later", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	last := h.cfg.AppliedIndex()
	if !send("retry: 3000\nevent: hello\ndata: %d\n\n", last) {
		return
	}
	poll := time.NewTicker(h.cfg.PollInterval)
	defer poll.Stop()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	end := time.NewTimer(h.cfg.MaxStream)
	defer end.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		case <-ping.C:
			if !send(": ping\n\n") {
				return
			}
		case <-poll.C:
			if idx := h.cfg.AppliedIndex(); idx != last {
				last = idx
				if !send("event: change\ndata: %d\n\n", idx) {
					return
				}
			}
		}
	}
}
