package store

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// AppliedIndex is the last raft index applied to this node's state; the
// correlation loop runs a round only when it moved.
func (s *Store) AppliedIndex() uint64 { return s.raft.AppliedIndex() }

// ProposeIncidents commits one correlation round's changes (leader only).
// Its raft entry is a CorrelateIncidentsDelta when an upsert keeps
// members or large fields of the incident it replaces and every server
// applies deltas (incident_delta.go), else the
// command whole, written by s.incidentEnc (encodeCommand's bytes, encoding
// again only the members that are new since the previous rounds). This
// node's FSM applies c itself either way.
func (s *Store) ProposeIncidents(ctx context.Context, c *mxv1.CorrelateIncidents) (CorrelateResult, error) {
	at := timestamppb.New(s.cfg.Now())
	cmd := &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidents{CorrelateIncidents: c}}
	b, err := s.encodeRound(cmd, at)
	if err != nil {
		return CorrelateResult{}, err
	}
	resp, err := s.propose(ctx, cmd, b)
	if err != nil {
		return CorrelateResult{}, err
	}
	res, _ := resp.(CorrelateResult)
	res.EntryBytes = len(b)
	return res, nil
}

// ApplyIncidentAction commits a human acknowledge/resolve (leader only) and
// returns the changed incident. Lifecycle errors wrap the incident package's
// sentinels (ErrNotFound, ErrInvalidTransition, ErrStaleSequence).
// replayed: a repeated idempotency key answered with the incident; nothing
// was done again.
func (s *Store) ApplyIncidentAction(ctx context.Context, a *mxv1.IncidentAction) (inc *mxv1.Incident, replayed bool, err error) {
	return s.applyWrite(ctx, &mxv1.Command{Kind: &mxv1.Command_IncidentAction{IncidentAction: a}})
}

// applyWrite commits a human write on one incident (action or external
// references) and unwraps its ActionResult.
func (s *Store) applyWrite(ctx context.Context, cmd *mxv1.Command) (inc *mxv1.Incident, replayed bool, err error) {
	resp, err := s.Apply(ctx, cmd)
	if err != nil {
		return nil, false, err
	}
	res, _ := resp.(ActionResult)
	if res.Err != nil {
		return nil, false, incidentActionError(res.Err)
	}
	return res.Incident, res.Replayed, nil
}

// encodeRound writes cmd's round as a delta when every server applies
// deltas (checked first: a mixed cluster does not pay for the diff) and an
// upsert keeps something of its stored incident, else whole.
func (s *Store) encodeRound(cmd *mxv1.Command, at *timestamppb.Timestamp) ([]byte, error) {
	if s.deltasApply() {
		if d, ok := s.state.correlateDelta(cmd.GetCorrelateIncidents(), &s.deltaWords); ok {
			return encodeCommand(&mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_CorrelateIncidentsDelta{CorrelateIncidentsDelta: d}})
		}
	}
	return s.incidentEnc.encode(cmd)
}
