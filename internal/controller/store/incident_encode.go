package store

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// incidentEncoder writes a correlation round's CorrelateIncidents command
// for the raft log, giving exactly encodeCommand's bytes (deterministic
// proto encoding) while encoding again only what is new. A round's
// changed incidents are new messages, but most of their members are the
// messages of the previous rounds (the engine keeps an unchanged
// member's message, and an unchanged member list as the same slice), and
// the members were most of an entry's encoding work. Stored messages are
// never modified (changes replace them), so a member message, and a
// member list (its first element's address and its length), encodes as it
// did before. The encoder remembers, per incident id, the member list it
// encoded for it in the current and the previous two rounds, with each
// member's encoding: the same list is its encoding again; a changed list
// encodes only the members that are not in the remembered one (matched
// by identity). Holding the lists keeps them and their members alive, so
// no other message can be at a remembered address.
//
// Only the leader's correlation loop proposes these commands, one round
// at a time; the mutex keeps concurrent proposals correct anyway.
type incidentEncoder struct {
	mu sync.Mutex
	// gens[0]: the lists of the round being encoded; gens[1], gens[2]: of
	// the two rounds before.
	gens [3]map[string]*encodedMembers
}

// encodedMembers is one incident's member list as encoded: the list, each
// member's message encoding, and the members field's encoding (each
// member's tag, length and message).
type encodedMembers struct {
	ms    []*mxv1.IncidentMember
	encs  [][]byte
	field []byte
}

func (em *encodedMembers) is(ms []*mxv1.IncidentMember) bool {
	return len(em.ms) == len(ms) && (len(ms) == 0 || &em.ms[0] == &ms[0])
}

// Field numbers encodeCorrelate writes by hand (proto/mxprobe/v1):
// Command.proposed_at, Command.correlate_incidents,
// CorrelateIncidents.upserts, Incident.members.
const (
	fieldCommandCorrelate protowire.Number = 5
	fieldCorrelateUpserts protowire.Number = 1
	fieldIncidentMembers  protowire.Number = 23
)

var deterministic = proto.MarshalOptions{Deterministic: true}

// encode returns cmd's raft encoding (cmd carries CorrelateIncidents and
// its proposed_at), byte for byte what encodeCommand(cmd) gives.
func (e *incidentEncoder) encode(cmd *mxv1.Command) ([]byte, error) {
	c := cmd.GetCorrelateIncidents()
	if c == nil || len(cmd.ProtoReflect().GetUnknown()) > 0 {
		return encodeCommand(cmd)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gens[2], e.gens[1], e.gens[0] = e.gens[1], e.gens[0], make(map[string]*encodedMembers, len(c.GetUpserts()))

	type encoded struct {
		head, members, tail []byte
	}
	incs := make([]encoded, len(c.GetUpserts()))
	inner := 0
	for i, inc := range c.GetUpserts() {
		if inc == nil {
			return encodeCommand(cmd)
		}
		head, tail := splitIncident(inc)
		var err error
		if incs[i].head, err = deterministic.Marshal(head); err != nil {
			return nil, fmt.Errorf("store: encode incident %s: %w", inc.GetId(), err)
		}
		if incs[i].tail, err = deterministic.Marshal(tail); err != nil {
			return nil, fmt.Errorf("store: encode incident %s: %w", inc.GetId(), err)
		}
		if incs[i].members, err = e.members(inc.GetId(), inc.GetMembers()); err != nil {
			return nil, fmt.Errorf("store: encode incident %s: %w", inc.GetId(), err)
		}
		n := len(incs[i].head) + len(incs[i].members) + len(incs[i].tail)
		inner += protowire.SizeTag(fieldCorrelateUpserts) + protowire.SizeBytes(n)
	}
	var deletes []byte
	if len(c.GetDeletes()) > 0 || len(c.ProtoReflect().GetUnknown()) > 0 {
		var err error
		if deletes, err = deterministic.Marshal(&mxv1.CorrelateIncidents{Deletes: c.GetDeletes()}); err != nil {
			return nil, fmt.Errorf("store: encode incident deletes: %w", err)
		}
		if u := c.ProtoReflect().GetUnknown(); len(u) > 0 {
			deletes = append(deletes, u...)
		}
	}
	inner += len(deletes)
	var ts []byte
	if at := cmd.GetProposedAt(); at != nil {
		var err error
		if ts, err = deterministic.Marshal(at); err != nil {
			return nil, fmt.Errorf("store: encode command time: %w", err)
		}
	}
	size := protowire.SizeTag(fieldCommandCorrelate) + protowire.SizeBytes(inner)
	if cmd.GetProposedAt() != nil {
		size += protowire.SizeTag(fieldCommandProposedAt) + protowire.SizeBytes(len(ts))
	}
	b := make([]byte, 0, size)
	if cmd.GetProposedAt() != nil {
		b = protowire.AppendTag(b, fieldCommandProposedAt, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	}
	b = protowire.AppendTag(b, fieldCommandCorrelate, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	for _, enc := range incs {
		b = protowire.AppendTag(b, fieldCorrelateUpserts, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(len(enc.head)+len(enc.members)+len(enc.tail)))
		b = append(b, enc.head...)
		b = append(b, enc.members...)
		b = append(b, enc.tail...)
	}
	b = append(b, deletes...)
	return b, nil
}

// members returns the encoding of incident id's members field.
func (e *incidentEncoder) members(id string, ms []*mxv1.IncidentMember) ([]byte, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	var old *encodedMembers
	for _, g := range e.gens {
		if old = g[id]; old != nil {
			break
		}
	}
	if old != nil && old.is(ms) {
		e.gens[0][id] = old
		return old.field, nil
	}
	em := &encodedMembers{ms: ms, encs: make([][]byte, len(ms))}
	// Unchanged members mostly keep their order: try the old list's next
	// member first, then (built once) an index of all of them.
	var index map[*mxv1.IncidentMember]int
	j := 0
	n := 0
	for i, m := range ms {
		found := -1
		if old != nil && m != nil {
			if j < len(old.ms) && old.ms[j] == m {
				found = j
			} else {
				if index == nil {
					index = make(map[*mxv1.IncidentMember]int, len(old.ms))
					for k, om := range old.ms {
						if om != nil {
							index[om] = k
						}
					}
				}
				if k, ok := index[m]; ok {
					found = k
				}
			}
		}
		if found >= 0 {
			em.encs[i] = old.encs[found]
			j = found + 1
		} else if m != nil {
			// (A nil element encodes as an empty message.)
			b, err := deterministic.Marshal(m)
			if err != nil {
				return nil, err
			}
			em.encs[i] = b
		}
		n += protowire.SizeTag(fieldIncidentMembers) + protowire.SizeBytes(len(em.encs[i]))
	}
	em.field = make([]byte, 0, n)
	for _, mb := range em.encs {
		em.field = protowire.AppendTag(em.field, fieldIncidentMembers, protowire.BytesType)
		em.field = protowire.AppendBytes(em.field, mb)
	}
	e.gens[0][id] = em
	return em.field, nil
}

// splitIncident returns two messages holding inc's fields before members
// (head) and after it (tail, with inc's unknown fields, which the
// encoder writes last): their encodings around the members' are inc's.
// Every field of Incident is in one of them (TestSplitIncidentCoversEveryField).
func splitIncident(inc *mxv1.Incident) (head, tail *mxv1.Incident) {
	head = &mxv1.Incident{
		Id: inc.Id, Fingerprint: inc.Fingerprint, Scope: inc.Scope, Cause: inc.Cause, Subject: inc.Subject, Severity: inc.Severity,
		State: inc.State, Sequence: inc.Sequence, FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen, OpenedAt: inc.OpenedAt,
		AcknowledgedAt: inc.AcknowledgedAt, ResolvedAt: inc.ResolvedAt, UpdatedAt: inc.UpdatedAt, Summary: inc.Summary,
		RootCause: inc.RootCause, Remediation: inc.Remediation, Direction: inc.Direction, DirectionDetail: inc.DirectionDetail,
		Agents: inc.Agents, Hosts: inc.Hosts, Sites: inc.Sites,
	}
	tail = &mxv1.Incident{
		MembersTotal: inc.MembersTotal, Timeline: inc.Timeline, Observations: inc.Observations, CleanObservations: inc.CleanObservations,
		LastObservedAt: inc.LastObservedAt, Occurrence: inc.Occurrence, Stale: inc.Stale, ExternalRefs: inc.ExternalRefs,
		Revision: inc.Revision,
	}
	if u := inc.ProtoReflect().GetUnknown(); len(u) > 0 {
		tail.ProtoReflect().SetUnknown(u)
	}
	return head, tail
}
