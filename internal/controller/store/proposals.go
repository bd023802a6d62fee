package store

import (
	"sync"
	"unsafe"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// proposals hands the leader's FSM the command it just encoded, so the
// leader does not decode its own entries again (about a tenth of its CPU
// under full ingest). Followers, replays from the log and snapshots always
// decode the bytes.
//
// An entry is recognised by the identity of its data buffer: raft gives the
// leader's FSM the very slice Apply passed in. While the FSM holds that
// slice the buffer is reachable, so no other proposal can have been
// allocated at the same address; the length is compared as well. The
// command and the bytes are the same message (the bytes are its
// deterministic encoding), so followers apply exactly what the leader does;
// a correlation round's bytes may be its delta against the stored
// incidents instead, which every node rebuilds into the same command
// (incident_delta.go).
type proposals struct {
	m sync.Map // uintptr -> proposal
}

type proposal struct {
	cmd *mxv1.Command
	n   int
}

func bufferKey(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// add registers cmd as the decoding of b; the returned func forgets it.
func (p *proposals) add(b []byte, cmd *mxv1.Command) func() {
	if p == nil || len(b) == 0 {
		return func() {}
	}
	k := bufferKey(b)
	p.m.Store(k, proposal{cmd: cmd, n: len(b)})
	return func() { p.m.Delete(k) }
}

// take returns the command proposed with exactly this buffer, if any.
func (p *proposals) take(b []byte) (*mxv1.Command, bool) {
	if p == nil || len(b) == 0 {
		return nil, false
	}
	v, ok := p.m.LoadAndDelete(bufferKey(b))
	if !ok {
		return nil, false
	}
	pr := v.(proposal)
	if pr.n != len(b) {
		return nil, false
	}
	return pr.cmd, true
}
