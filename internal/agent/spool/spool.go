package spool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mxprobe/mxprobe/internal/sharedfile"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// SyncPolicy says when appended records are forced to stable storage.
type SyncPolicy int

const (
	// SyncAlways fsyncs the segment after every Append (and the directory
	// when a segment is created), so a batch whose Append returned nil
	// survives power loss and kernel crashes as well as process crashes.
	// Cost: one fsync per batch, typically 0.05-2 ms on SSD/NVMe, 5-20 ms
	// on spinning disks or some virtualised/network volumes; see
	// BenchmarkAppend. Agents append one batch per check round, so this is
	// negligible in practice. This is the default.
	SyncAlways SyncPolicy = iota
	// SyncNone never fsyncs on Append. Data written is in the OS page
	// cache, so it survives the agent being killed (kill -9, crash, OOM)
	// but batches appended shortly before a power loss or OS crash may be
	// lost, and LastSeq may then go back, reusing sequence numbers the
	// controller already has. The meta file is always written durably.
	SyncNone
)

func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(p))
}

// Defaults for Options.
const (
	DefaultMaxBytes     int64 = 256 << 20
	DefaultSegmentBytes int64 = 8 << 20
)

// Options configure a Spool. The zero value is usable.
type Options struct {
	// MaxBytes bounds the bytes of held (unacknowledged) records, headers
	// included; when an Append would exceed it the oldest held batches are
	// dropped and counted. Disk use can exceed it by up to two segments of
	// acknowledged or dropped records awaiting deletion (the oldest,
	// partially trimmed segment and the active one). Default 256 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started.
	// Default 8 MiB; capped at MaxBytes/4 so that dropping and trimming can
	// actually free disk space. A batch larger than this gets a segment to
	// itself.
	SegmentBytes int64
	// Sync is the durability policy; the zero value is SyncAlways.
	Sync SyncPolicy
	// Logger receives warnings about corrupt records, drops and I/O
	// problems. Default slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes < 0 || o.SegmentBytes < 0 {
		return o, fmt.Errorf("spool: negative size in options (MaxBytes %d, SegmentBytes %d)", o.MaxBytes, o.SegmentBytes)
	}
	if o.Sync != SyncAlways && o.Sync != SyncNone {
		return o, fmt.Errorf("spool: unknown sync policy %d", int(o.Sync))
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if q := o.MaxBytes / 4; o.SegmentBytes > q && q > 0 {
		o.SegmentBytes = q
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Stats describe the spool's current state.
type Stats struct {
	// Batches and Bytes are what is held: appended, not yet trimmed or
	// dropped. Bytes counts record headers too.
	Batches int
	Bytes   int64
	// DiskBytes is the size of all segment files, including trimmed or
	// dropped records whose segment has not been deleted yet.
	DiskBytes int64
	Segments  int
	// FirstSeq is the oldest held batch (0 if none); LastSeq as LastSeq().
	FirstSeq, LastSeq uint64
	// Floor is the watermark: every batch at or below it is acknowledged
	// by the controller or dropped.
	Floor uint64
	// Dropped counts batches dropped since Open because the spool was full.
	Dropped uint64
	// Corrupt counts corrupt regions skipped since Open: torn or damaged
	// records, garbage, records of an unknown version, out-of-order
	// duplicates, records unreadable on replay, and a damaged meta file.
	// Damage in a segment is counted again at every Open until the segment
	// is trimmed away.
	Corrupt uint64
}

// chunk limits for Each: records are read from disk under the lock in
// chunks of at most this many batches / bytes, then handed to the callback
// without the lock held.
const (
	chunkBatches = 64
	chunkBytes   = 4 << 20
)

// Spool is a durable, bounded, ordered store of result batches. It
// implements stream.Outbox. All methods are safe for concurrent use; a
// directory must be opened by one Spool (one process) at a time.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	ix        index
	active    *segment // where Append writes; nil until the first Append
	nextID    uint64   // id of the next segment file
	last      uint64   // highest seq appended or acknowledged
	floor     uint64   // every seq <= floor is acknowledged or dropped
	persisted meta     // what the meta file holds
	dropped   uint64
	corrupt   uint64
	closed    bool
	readOnly  bool // Inspect: nothing is written or deleted

	// Loss accounting (loss.go).
	loss      lossCounters
	reported  uint64    // lost-batch total whose report the controller acknowledged
	accounted uint64    // missing seqs at or below it are accounted for
	suspects  []seqSpan // missing at Open, resolved by the next Welcome
	deferred  uint64    // accounted to raise once suspects are resolved
	reports   []report  // appended batches carrying a loss report
	now       func() time.Time
}

// Open opens (creating if needed) the spool in dir, scanning every segment
// to rebuild the index. Corrupt data is skipped, logged and counted, never
// fatal; Open fails only when the directory cannot be used.
func Open(dir string, opts Options) (*Spool, error) {
	return open(dir, opts, false)
}

func open(dir string, opts Options, readOnly bool) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if !readOnly {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		if err := os.Remove(filepath.Join(dir, metaTmpName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("spool: remove stale meta: %w", err)
		}
	}
	s := &Spool{dir: dir, opts: opts, log: opts.Logger.With("spool", dir), nextID: 1, readOnly: readOnly, now: time.Now}

	m, _, err := readMeta(dir)
	badMeta := errors.Is(err, errBadMeta)
	switch {
	case badMeta:
		s.corrupt++
		s.log.Error("spool meta file is corrupt; acknowledged watermark lost, last sequence taken from segments", "err", err)
		m = meta{}
	case err != nil:
		return nil, err
	}
	s.last, s.floor = m.lastSeq, m.floor
	s.loss, s.reported, s.accounted = m.loss, m.reported, m.accounted
	s.persisted = m

	ids, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := s.load(id); err != nil {
			s.closeAll()
			return nil, err
		}
		s.nextID = id + 1
	}
	s.findMissing()
	if readOnly {
		s.closeAll()
		s.closed = true
		return s, nil
	}
	// Persist the last seq seen in the segments before deleting any of
	// them, so it is never lost. A damaged or version 1 meta file is
	// rewritten.
	if badMeta || m.version != metaVersion {
		s.persisted = meta{lastSeq: ^uint64(0)} // force the write
	}
	if err := s.persist(); err != nil {
		s.closeAll()
		return nil, err
	}
	s.collect()
	return s, nil
}

// Inspect reads the spool in dir without changing anything (no file is
// created, written or deleted), for a read-only status command that may
// run next to the agent. The returned Spool is closed: Stats, Loss and
// LastSeq answer.
func Inspect(dir string, opts Options) (*Spool, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return open(dir, opts, true)
}

// listSegments returns the segment ids in dir, oldest first.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var ids []uint64
	for _, de := range des {
		if id, ok := parseSegName(de.Name()); ok && de.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// load scans one segment into the index.
func (s *Spool) load(id uint64) error {
	path := filepath.Join(s.dir, segName(id))
	f, err := sharedfile.Open(path) // shared for delete: see readMeta
	if err != nil {
		return fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: stat segment: %w", err)
	}
	sg := &segment{id: id, path: path, size: fi.Size()}
	s.scanInto(sg, f)
	s.ix.segs = append(s.ix.segs, sg)
	return nil
}

// scanInto indexes the live records of sg, read from r, which must come
// after every segment already indexed.
func (s *Spool) scanInto(sg *segment, r io.ReaderAt) {
	name := filepath.Base(sg.path)
	var prev uint64 // highest seq indexed so far
	for i := len(s.ix.segs) - 1; i >= 0; i-- {
		if e := s.ix.segs[i].entries; len(e) > 0 {
			prev = e[len(e)-1].seq
			break
		}
	}
	res := scanSegment(r, sg.size, func(r scannedRecord) {
		s.last = max(s.last, r.seq)
		switch {
		case r.seq <= s.floor:
			// acknowledged or dropped before: not held
		case r.seq <= prev:
			s.corrupt++
			s.log.Warn("spool record out of sequence, skipped", "segment", name, "offset", r.off, "seq", r.seq, "after", prev)
		default:
			s.ix.add(sg, entry{seq: r.seq, off: r.off, size: r.size, results: uint32(r.results)})
			prev = r.seq
		}
	})
	for _, c := range res.corrupt {
		s.corrupt++
		s.log.Warn("spool segment damage skipped", "segment", name, "offset", c.off, "resumed_at", c.end, "skipped_bytes", c.end-c.off, "reason", c.reason)
	}
}

// Append stores b durably (per the sync policy) and returns nil once it is
// stored. b.Seq must be above LastSeq. If the spool is full, the oldest
// held batches are dropped to make room (see Stats.Dropped); Append still
// returns nil because b itself was stored.
func (s *Spool) Append(b *mxv1.ResultBatch) error {
	if b == nil {
		return errors.New("spool: append nil batch")
	}
	seq := b.GetSeq()
	payload, err := proto.Marshal(b)
	if err != nil {
		return fmt.Errorf("spool: encode batch %d: %w", seq, err)
	}
	results := len(b.GetResults())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if seq <= s.last {
		return fmt.Errorf("%w: %d after %d", ErrSeqNotIncreasing, seq, s.last)
	}
	if len(payload) > MaxBatchBytes {
		s.lostUnstored(0, results)
		return fmt.Errorf("%w: batch %d is %d bytes, limit %d", ErrTooLarge, seq, len(payload), MaxBatchBytes)
	}
	rec := encodeRecord(seq, results, payload)
	need := int64(len(rec))
	if need > s.opts.MaxBytes {
		s.lostUnstored(0, results)
		return fmt.Errorf("%w: batch %d needs %d bytes, spool holds at most %d", ErrTooLarge, seq, need, s.opts.MaxBytes)
	}
	s.makeRoom(need)
	if err := s.ensureActive(need); err != nil {
		s.lostUnstored(0, results)
		return err
	}
	// Reserve the sequence number before the record exists: if the record
	// is then torn, damaged or never written, a restarted agent still
	// starts above it and never reuses it (a reused number would be taken
	// for a replay by the controller and never applied).
	prevLast := s.last
	s.last = seq
	if err := s.persistSync(s.opts.Sync == SyncAlways); err != nil {
		s.last = prevLast
		s.lostUnstored(0, results)
		return fmt.Errorf("spool: reserve seq %d: %w", seq, err)
	}
	sg := s.active
	off := sg.size
	if _, err := sg.f.WriteAt(rec, off); err != nil {
		s.undo(sg, off)
		s.lostUnstored(seq, results)
		return fmt.Errorf("spool: write batch %d: %w", seq, err)
	}
	if s.opts.Sync == SyncAlways {
		if err := sg.f.Sync(); err != nil {
			s.undo(sg, off)
			s.lostUnstored(seq, results)
			return fmt.Errorf("spool: sync batch %d: %w", seq, err)
		}
	}
	sg.size = off + need
	s.ix.add(sg, entry{seq: seq, off: off, size: need, results: uint32(results)})
	if l := b.GetSpoolLoss(); l != nil {
		s.reports = append(s.reports, report{seq: seq, total: l.GetDroppedFull() + l.GetWriteFailed() + l.GetCorrupt()})
	}
	return nil
}

// undo tries to cut a failed write off the active segment. Whatever
// happens, the segment is retired: after a failed write or fsync its tail
// cannot be trusted, and a leftover partial record is skipped as corrupt
// at the next Open.
func (s *Spool) undo(sg *segment, off int64) {
	if err := sg.f.Truncate(off); err != nil {
		s.log.Warn("spool: cannot truncate failed write", "segment", filepath.Base(sg.path), "err", err)
	}
	sg.broken = true
}

// makeRoom drops the oldest held batches until need more bytes fit.
func (s *Spool) makeRoom(need int64) {
	n := 0
	for s.ix.count > 0 && s.ix.bytes+need > s.opts.MaxBytes {
		e, _ := s.ix.dropOldest()
		s.floor = e.seq
		s.dropped++
		s.addLoss(lossFull, 1, uint64(e.results))
		n++
	}
	if n > 0 {
		s.dropReports()
		s.log.Warn("spool full: oldest batches dropped", "dropped", n, "dropped_through_seq", s.floor, "dropped_total", s.dropped)
		s.collect()
	}
}

// ensureActive makes sure there is an active segment with room for need
// bytes, starting a new one if necessary.
func (s *Spool) ensureActive(need int64) error {
	if a := s.active; a != nil && !a.broken && (a.size == 0 || a.size+need <= s.opts.SegmentBytes) {
		return nil
	}
	if s.active != nil {
		if err := s.active.closeFile(); err != nil {
			s.log.Warn("spool: closing full segment", "err", err)
		}
		s.active = nil
	}
	var sg *segment
	var err error
	for range 16 { // skip ids taken by stray files
		sg, err = createSegment(s.dir, s.nextID)
		s.nextID++
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	if s.opts.Sync == SyncAlways {
		if err := syncDir(s.dir); err != nil {
			if rerr := sg.remove(); rerr != nil {
				s.log.Warn("spool: removing new segment", "err", rerr)
			}
			return err
		}
	}
	s.ix.segs = append(s.ix.segs, sg)
	s.active = sg
	return nil
}

// persist writes the meta file, durably, if it is out of date.
func (s *Spool) persist() error { return s.persistSync(true) }

// persistSync writes the meta file if it is out of date; durable: fsync
// the file and the directory.
func (s *Spool) persistSync(durable bool) error {
	if s.readOnly {
		return nil
	}
	m := meta{version: metaVersion, lastSeq: s.last, floor: s.floor, loss: s.loss, reported: s.reported, accounted: s.accounted}
	if m == s.persisted {
		return nil
	}
	if err := writeMeta(s.dir, m, durable); err != nil {
		return err
	}
	s.persisted = m
	return nil
}

// collect deletes segments that hold no live record (other than the
// active one). The meta file is brought up to date first, so the last
// sequence number and the watermark are never only in a deleted file.
func (s *Spool) collect() {
	dead := s.ix.dead(s.active)
	if len(dead) == 0 {
		return
	}
	if err := s.persist(); err != nil {
		s.log.Error("spool: cannot persist meta, keeping acknowledged segments", "err", err)
		return
	}
	gone := dead[:0:0]
	for _, sg := range dead {
		if err := sg.remove(); err != nil {
			s.log.Warn("spool: cannot delete segment, will retry", "segment", filepath.Base(sg.path), "err", err)
			continue
		}
		gone = append(gone, sg)
	}
	s.ix.removeSegs(gone)
	if len(gone) > 0 && s.opts.Sync == SyncAlways {
		if err := syncDir(s.dir); err != nil {
			s.log.Warn("spool: sync dir after delete", "err", err)
		}
	}
}

// Trim drops every batch with Seq <= upTo, persists the watermark so they
// are not replayed after a restart, and deletes segments left with no
// held batch. Trim above LastSeq raises LastSeq (the controller knows of
// later batches). Errors are logged: the watermark is retried at the next
// Trim and resending acknowledged batches is harmless.
func (s *Spool) Trim(upTo uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.last = max(s.last, upTo)
	if upTo > s.floor {
		s.floor = upTo
		s.ix.dropThrough(upTo)
	}
	s.reportsAcked(upTo)
	if err := s.persist(); err != nil {
		s.log.Error("spool: cannot persist acknowledged watermark", "seq", upTo, "err", err)
		return
	}
	s.collect()
}

// LastSeq is the highest sequence ever appended or trimmed through (0 if
// none). It survives restarts even when every batch has been trimmed.
func (s *Spool) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Pending returns the held batches with Seq > after, in order. It reads
// them all into memory; use Each to stream a large backlog. Records that
// cannot be read back are skipped, logged and counted as corrupt.
func (s *Spool) Pending(after uint64) []*mxv1.ResultBatch {
	var out []*mxv1.ResultBatch
	err := s.Each(after, func(b *mxv1.ResultBatch) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		s.log.Warn("spool: pending", "err", err)
	}
	return out
}

// Each calls fn with every held batch with Seq > after, in order, reading
// from disk a chunk at a time so memory stays bounded whatever the backlog.
// The lock is not held while fn runs, so fn may call Trim or Append;
// batches trimmed meanwhile may still be delivered if they were in the
// current chunk, batches appended meanwhile are delivered. A non-nil error
// from fn stops the iteration and is returned.
func (s *Spool) Each(after uint64, fn func(*mxv1.ResultBatch) error) error {
	for {
		batch, last, err := s.readChunk(after)
		if err != nil {
			return err
		}
		if last == after {
			return nil
		}
		for _, b := range batch {
			if err := fn(b); err != nil {
				return err
			}
		}
		after = last
	}
}

// readChunk reads the next chunk of held batches with seq > after. last is
// the highest seq examined (after if none), including records that turned
// out unreadable.
func (s *Spool) readChunk(after uint64) (out []*mxv1.ResultBatch, last uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, after, ErrClosed
	}
	last = after
	c, ok := s.ix.after(after)
	if !ok {
		return nil, after, nil
	}
	type badRef struct {
		sg  *segment
		seq uint64
		err error
	}
	var bad []badRef
	var rf *os.File // read handle of a sealed segment
	var rfSeg *segment
	var rfErr error
	defer func() {
		if rf != nil {
			_ = rf.Close()
		}
	}()
	var bytes int64
	for c.seg < len(s.ix.segs) && len(out) < chunkBatches && bytes < chunkBytes {
		sg := s.ix.segs[c.seg]
		if c.ent >= len(sg.entries) {
			c = cursor{c.seg + 1, 0}
			continue
		}
		e := sg.entries[c.ent]
		c.ent++
		last = e.seq
		var r io.ReaderAt
		if sg.f != nil {
			r = sg.f
		} else {
			if rfSeg != sg {
				if rf != nil {
					_ = rf.Close()
				}
				rf, rfErr = sharedfile.Open(sg.path)
				rfSeg = sg
				if rfErr != nil {
					rf = nil
				}
			}
			if rfErr != nil {
				bad = append(bad, badRef{sg, e.seq, rfErr})
				continue
			}
			r = rf
		}
		b, err := decodeAt(r, e)
		if err != nil {
			bad = append(bad, badRef{sg, e.seq, err})
			continue
		}
		out = append(out, b)
		bytes += e.size
	}
	for _, br := range bad {
		s.corrupt++
		s.ix.remove(br.sg, br.seq)
		// Not sent on this stream (it cannot be read), and every caller
		// reads past what the controller committed: lost.
		s.addLoss(lossCorrupt, 1, 0)
		s.account(br.seq)
		s.log.Error("spool record unreadable, skipped: counted as lost", "segment", filepath.Base(br.sg.path), "seq", br.seq, "err", br.err)
	}
	if len(bad) > 0 {
		if err := s.persist(); err != nil {
			s.log.Warn("spool: cannot persist loss counters", "err", err)
		}
	}
	return out, last, nil
}

// decodeAt reads, verifies and decodes the record e.
func decodeAt(r io.ReaderAt, e entry) (*mxv1.ResultBatch, error) {
	h, p, err := readRecord(r, e.off, e.size)
	if err != nil {
		return nil, err
	}
	if h.seq != e.seq {
		return nil, fmt.Errorf("record at %d has seq %d, index says %d", e.off, h.seq, e.seq)
	}
	b := new(mxv1.ResultBatch)
	if err := proto.Unmarshal(p, b); err != nil {
		return nil, fmt.Errorf("decode batch %d: %w", e.seq, err)
	}
	if b.GetSeq() != e.seq {
		return nil, fmt.Errorf("batch at %d has seq %d, record header says %d", e.off, b.GetSeq(), e.seq)
	}
	return b, nil
}

// Stats returns the current counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Batches:  s.ix.count,
		Bytes:    s.ix.bytes,
		Segments: len(s.ix.segs),
		LastSeq:  s.last,
		Floor:    s.floor,
		Dropped:  s.dropped,
		Corrupt:  s.corrupt,
	}
	st.FirstSeq, _ = s.ix.first()
	for _, sg := range s.ix.segs {
		st.DiskBytes += sg.size
	}
	return st
}

// Close syncs and closes the active segment and persists the watermark.
// Further Append/Each calls fail with ErrClosed; Trim is a no-op; LastSeq
// and Stats still answer. Close is idempotent.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if a := s.active; a != nil && a.f != nil {
		if err := a.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: sync on close: %w", err))
		}
	}
	s.closeAll()
	if err := s.persist(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeAll closes every open segment handle.
func (s *Spool) closeAll() {
	for _, sg := range s.ix.segs {
		if err := sg.closeFile(); err != nil {
			s.log.Warn("spool: close", "err", err)
		}
	}
}
