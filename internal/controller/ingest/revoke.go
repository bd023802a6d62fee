package ingest

import (
	"context"
	"sync"
	"time"
)

// ConnCloser closes the network connection of a remote address (the node's
// tracking listener), which ends every stream on it without costing a
// goroutine per stream.
type ConnCloser interface {
	CloseRemote(addr string) bool
}

// streamEntry is one connected agent stream.
type streamEntry struct {
	agentID  string
	issuedAt time.Time
	remote   string
}

// active tracks connected streams, to cut them on revocation and when
// leadership is lost.
type active struct {
	mu      sync.Mutex
	streams map[*streamEntry]struct{}
}

func (a *active) add(e *streamEntry) {
	a.mu.Lock()
	if a.streams == nil {
		a.streams = map[*streamEntry]struct{}{}
	}
	a.streams[e] = struct{}{}
	a.mu.Unlock()
}

func (a *active) remove(e *streamEntry) {
	a.mu.Lock()
	delete(a.streams, e)
	a.mu.Unlock()
}

func (a *active) list() []*streamEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*streamEntry, 0, len(a.streams))
	for e := range a.streams {
		out = append(out, e)
	}
	return out
}

// WatchRevocations cuts the streams of revoked agents every interval until
// ctx ends.
func (s *Server) WatchRevocations(ctx context.Context, interval time.Duration) {
	if s.closer == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, e := range s.active.list() {
			if s.node.State().AgentRevoked(e.agentID, e.issuedAt) && s.closer.CloseRemote(e.remote) {
				s.log.Warn("revoked agent's connection closed", "agent", e.agentID, "remote", e.remote)
			}
		}
	}
}

// WhileLeading is leader-only work (store.OnLeadership): when ctx ends,
// this node has stopped leading, and every agent stream still open on it is
// cut. Its agents then reconnect and find the new leader at once instead
// of at their next batch, which would only be answered NotLeader, or never
// when the node was paused and does not know yet that it was deposed.
func (s *Server) WhileLeading(ctx context.Context) {
	<-ctx.Done()
	if s.closer == nil {
		return
	}
	n := 0
	for _, e := range s.active.list() {
		if s.closer.CloseRemote(e.remote) {
			n++
		}
	}
	if n > 0 {
		s.log.Info("leadership lost: agent connections closed so the agents find the new leader", "connections", n)
	}
}
