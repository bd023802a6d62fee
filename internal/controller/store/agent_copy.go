package store

import (
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// copyAgent is the copy of a stored agent that applying a batch changes
// (copy on write): what proto.CloneOf(a) gives, without its reflective
// deep copy for every batch. The copy shares a's labels, roles, timestamps
// and spool loss: the store never modifies what it stored, it replaces it.
// An agent with unknown fields (stored by a newer binary) is cloned in
// full. TestCopyAgentCopiesEveryField sets every field Agent has.
func copyAgent(a *mxv1.Agent) *mxv1.Agent {
	if len(a.ProtoReflect().GetUnknown()) > 0 {
		return proto.CloneOf(a)
	}
	return &mxv1.Agent{
		AgentId: a.AgentId, Site: a.Site, Hostname: a.Hostname, Roles: a.Roles, Version: a.Version, Labels: a.Labels,
		FirstSeen: a.FirstSeen, LastSeen: a.LastSeen, LastSeq: a.LastSeq, ResultsCommitted: a.ResultsCommitted,
		LastBatchAt: a.LastBatchAt, SpoolLoss: a.SpoolLoss, BatchesCommitted: a.BatchesCommitted,
	}
}
