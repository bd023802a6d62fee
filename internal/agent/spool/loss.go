package spool

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Loss accounting. A batch is lost when it leaves the spool without the
// controller having committed it:
//
//   - dropped to make room when the spool is full (DroppedFull);
//   - never stored: the write, its fsync or the sequence reservation failed
//     (ENOSPC, I/O error), or the batch is larger than the spool can hold
//     (WriteFailed);
//   - damaged: a record that cannot be read back when it is replayed, or a
//     sequence number missing from the segments at Open that the controller
//     turns out not to have (Corrupt).
//
// Sequence numbers are reserved in the meta file before their record is
// written, so every seq in (floor, LastSeq] should have a record. At Open
// those without one are suspects: the agent may have been killed after the
// controller committed them but before it recorded the ack, so they are
// resolved by the controller's next Welcome (ResolveMissing): at or below
// its last committed seq they are not lost (no false alarm), above it they
// are. A damaged region holding only acknowledged records is never a loss
// (those seqs are at or below the floor).
//
// The counters are cumulative, persisted in the meta file and carried in
// every batch (mxv1.SpoolLoss) by the runner, so the controller always
// learns the total even when the batch that first reported a loss is lost
// too. The runner reports a loss as an AGENT_SPOOL_LOSS finding until the
// controller acknowledged a batch carrying the current total (Reported).
//
// Known limits: a suspect the floor passes (dropped for space) before the
// next Welcome, or that was pending when the agent died before connecting,
// is forgotten rather than counted; a certain loss recorded while
// suspects were unresolved may be counted again after a crash before the
// next Welcome. Both need two faults before one reconnect.

// Loss is the spool's cumulative loss accounting.
type Loss struct {
	// Lost batches by cause.
	DroppedFull, WriteFailed, Corrupt uint64
	// Check results in the dropped and never-stored batches (a damaged
	// record's result count is unknown).
	Results uint64
	// First and latest loss; zero when nothing was lost.
	Since, Last time.Time
	// Reported: the lost-batch total the controller acknowledged a report
	// of (a batch carrying it was acknowledged).
	Reported uint64
	// Unresolved: sequence numbers missing at Open, awaiting the next
	// Welcome to tell whether the controller has them.
	Unresolved uint64
}

// Batches is the total of lost batches.
func (l Loss) Batches() uint64 { return l.DroppedFull + l.WriteFailed + l.Corrupt }

// Proto is the loss as carried in a batch; nil when nothing was lost.
func (l Loss) Proto() *mxv1.SpoolLoss {
	if l.Batches() == 0 {
		return nil
	}
	return &mxv1.SpoolLoss{DroppedFull: l.DroppedFull, WriteFailed: l.WriteFailed, Corrupt: l.Corrupt, Results: l.Results,
		Since: timestamppb.New(l.Since), Last: timestamppb.New(l.Last)}
}

type lossKind int

const (
	lossFull lossKind = iota
	lossWrite
	lossCorrupt
)

// seqSpan is an inclusive range of sequence numbers.
type seqSpan struct{ lo, hi uint64 }

func (r seqSpan) String() string {
	if r.lo == r.hi {
		return fmt.Sprint(r.lo)
	}
	return fmt.Sprintf("%d-%d", r.lo, r.hi)
}

// report: the batch seq carried a loss report of total lost batches.
type report struct{ seq, total uint64 }

// Loss returns the cumulative loss accounting.
func (s *Spool) Loss() Loss {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := Loss{DroppedFull: s.loss.full, WriteFailed: s.loss.write, Corrupt: s.loss.corrupt, Results: s.loss.results, Reported: s.reported}
	if s.loss.first != 0 {
		l.Since, l.Last = time.Unix(0, s.loss.first), time.Unix(0, s.loss.last)
	}
	for _, r := range s.suspects {
		l.Unresolved += r.hi - r.lo + 1
	}
	return l
}

// addLoss counts lost batches (with results check results among them).
func (s *Spool) addLoss(k lossKind, batches, results uint64) {
	if batches == 0 {
		return
	}
	switch k {
	case lossFull:
		s.loss.full += batches
	case lossWrite:
		s.loss.write += batches
	default:
		s.loss.corrupt += batches
	}
	s.loss.results += results
	now := s.now().UnixNano()
	if s.loss.first == 0 {
		s.loss.first = now
	}
	s.loss.last = now
}

// lostUnstored counts a batch that could not be stored; seq is its
// reserved sequence number (0 when none was reserved). The meta file is
// written if the disk lets it; otherwise the counters ride with the next
// write that works.
func (s *Spool) lostUnstored(seq uint64, results int) {
	s.addLoss(lossWrite, 1, uint64(results))
	if seq > 0 {
		s.account(seq)
	}
	if err := s.persist(); err != nil {
		s.log.Warn("spool: cannot persist loss counters; kept in memory", "err", err)
	}
	s.log.Error("spool: batch not stored, counted as lost", "seq", seq, "results", results, "lost_total", s.loss.batches())
}

// account marks a missing seq as counted, so the next Open does not count
// it again.
func (s *Spool) account(seq uint64) {
	if len(s.suspects) == 0 {
		s.accounted = max(s.accounted, seq)
	} else {
		s.deferred = max(s.deferred, seq)
	}
}

// findMissing records the seqs in (max(floor, accounted), last] that have
// no record, after Open indexed every segment.
func (s *Spool) findMissing() {
	lo := max(s.floor, s.accounted)
	prev := lo
	for _, sg := range s.ix.segs {
		for _, e := range sg.entries {
			if e.seq <= lo {
				continue
			}
			if e.seq > prev+1 {
				s.suspects = append(s.suspects, seqSpan{prev + 1, e.seq - 1})
			}
			prev = e.seq
		}
	}
	if s.last > prev {
		s.suspects = append(s.suspects, seqSpan{prev + 1, s.last})
	}
	if len(s.suspects) > 0 && !s.readOnly {
		s.log.Warn("spool records missing or damaged: lost unless the controller committed them (resolved when it answers)",
			"seqs", fmt.Sprint(s.suspects), "acknowledged_through", s.floor)
	}
}

// ResolveMissing settles the seqs found missing at Open against the
// controller's last committed seq (its Welcome): those at or below it were
// committed (or their loss was counted before), those above it are lost.
func (s *Spool) ResolveMissing(committed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.suspects) == 0 {
		return
	}
	var lost uint64
	var lostRanges []seqSpan
	top := s.deferred
	for _, r := range s.suspects {
		top = max(top, r.hi)
		if lo := max(r.lo, committed+1); lo <= r.hi {
			lost += r.hi - lo + 1
			lostRanges = append(lostRanges, seqSpan{lo, r.hi})
		}
	}
	s.suspects, s.deferred = nil, 0
	s.accounted = max(s.accounted, top)
	s.addLoss(lossCorrupt, lost, 0)
	if lost > 0 {
		s.log.Error("spool: damaged records the controller never committed, counted as lost", "seqs", fmt.Sprint(lostRanges),
			"controller_committed", committed, "lost_total", s.loss.batches())
	} else {
		s.log.Info("spool: missing records were all committed by the controller: nothing lost", "controller_committed", committed)
	}
	if s.closed {
		return
	}
	if err := s.persist(); err != nil {
		s.log.Warn("spool: cannot persist loss counters", "err", err)
	}
}

// reportsAcked credits loss reports in batches at or below upTo (acked).
func (s *Spool) reportsAcked(upTo uint64) {
	i := 0
	for ; i < len(s.reports) && s.reports[i].seq <= upTo; i++ {
		s.reported = min(max(s.reported, s.reports[i].total), s.loss.batches())
	}
	s.reports = append(s.reports[:0:0], s.reports[i:]...)
}

// dropReports forgets reports in batches dropped for space (not acked).
func (s *Spool) dropReports() {
	i := 0
	for i < len(s.reports) && s.reports[i].seq <= s.floor {
		i++
	}
	s.reports = append(s.reports[:0:0], s.reports[i:]...)
}
