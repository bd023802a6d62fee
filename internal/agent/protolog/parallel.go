package protolog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
)

// Chunked parallel parsing (ParseFiles, Parse).
//
// A producer reads the files in rotation order in blocks and cuts them into
// chunks at line boundaries. Workers parse chunks in parallel, each with a
// private tracker, speculating that every session they meet starts in their
// chunk and that the file's header state at the chunk start is the one after
// the file's leading header block. One merger folds the chunks into the
// batch's tracker strictly in input order, which makes the result exactly
// what the sequential engine produces:
//
//   - A session id whose first rows in chunk k belong to a session still
//     open after chunk k-1 (it started earlier) is a continuation: the
//     worker's view of it is dropped and the chunk's rows of that session, up
//     to its '-' row, are applied again to the carried session (a rescan of
//     the chunk from that session's first row, skipping every other row;
//     sessions open at a boundary are the few in flight there, so the rescan
//     is short).
//   - Sessions are numbered (Ord) and emitted (OnSession) in the order the
//     sequential engine would: creation order, and at the row that closes
//     them.
//   - A chunk whose assumption does not hold (the header state changed
//     before it: a header line after the leading block, a first line that
//     was skipped, ...) or that could have hit the open-session cap is
//     parsed again by the merger with the sequential engine from the true
//     state. Real logs never take this path; it keeps hostile ones exact.
//
// Memory stays bounded: at most inflight chunks of about chunkSize bytes
// (plus a line of at most MaxLineBytes) exist at once, and a worker that
// opens more than MaxOpenSessions sessions in its chunk gives up (the merger
// then parses that chunk sequentially, with the cap's eviction).

// DefaultChunkBytes is the size of the pieces a large log is cut into for
// parallel parsing.
const DefaultChunkBytes = 4 << 20

// fileHdr is a file's header state at some line: what engine.line needs.
type fileHdr struct {
	info  FileInfo
	fm    fieldMap
	lines int64
}

func (h *fileHdr) state() *fileState {
	return &fileState{info: cloneInfo(h.info), fm: h.fm, lines: h.lines}
}

func hdrOf(fs *fileState) fileHdr {
	return fileHdr{info: cloneInfo(fs.info), fm: fs.fm, lines: fs.lines}
}

func cloneInfo(i FileInfo) FileInfo {
	i.Fields = slices.Clone(i.Fields)
	return i
}

// sameHdr reports whether two header states make engine.line behave alike
// on the lines that follow (and report the same FileInfo).
func sameHdr(a, b fileHdr) bool {
	return a.fm == b.fm && (a.lines == 0) == (b.lines == 0) && a.info.Name == b.info.Name &&
		a.info.Direction == b.info.Direction && a.info.LogType == b.info.LogType && a.info.Software == b.info.Software &&
		a.info.Version == b.info.Version && a.info.Date.Equal(b.info.Date) && slices.Equal(a.info.Fields, b.info.Fields)
}

// pfile is one input file of a parallel parse.
type pfile struct {
	name string
	// lead: header state after the file's leading header block, assumed
	// at the start of every chunk but the first.
	lead fileHdr
}

// pchunk is a piece of one file holding whole lines.
type pchunk struct {
	seq   int
	file  *pfile
	first bool // starts at the file's first byte
	last  bool // ends the file (a final unterminated line is included)
	data  []byte
	buf   *[]byte // pooled backing array of data
	long  int64   // lines skipped by the producer for length before this chunk's data
	bytes int64   // bytes read from the file for this chunk (skipped ones included)

	res  *chunkResult // the worker's output, valid after done is closed
	done chan struct{}
}

// chunkResult is a worker's speculative parse of a chunk.
type chunkResult struct {
	ok        bool // false: gave up (open-session cap); parse sequentially
	stats     Stats
	end       fileHdr      // header state after the chunk
	headers   bool         // the chunk had a header line
	instances []*sessState // every session instance created, in creation order
}

type parallelParse struct {
	b         *batch
	conns     connCache // the merger's, for its rescans (speculative)
	workers   int
	chunkSize int
	maxLine   int
	maxOpen   int
}

func (p *Parser) workers() int {
	if p.Workers > 0 {
		return p.Workers
	}
	return runtime.GOMAXPROCS(0)
}

func (p *Parser) chunkSize() int { return max(cmp.Or(p.chunkBytes, DefaultChunkBytes), 1) }

// source is one input of a parse: how to open it and its name.
type source struct {
	name string
	open func() (io.ReadCloser, error)
}

// run parses the sources in order. Errors are per source (open or read),
// as with the sequential feed, plus the context's.
func (pp *parallelParse) run(parent context.Context, srcs []source) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	// workers+2 chunks at once: 2*workers+2 held ~20 MiB more at the same
	// CPU and wall time (1 GiB send log, 12 interleaved runs each).
	inflight := pp.workers + 2
	pool := &bufPool{free: make(chan *[]byte, inflight+1), size: pp.chunkSize + pp.maxLine + 2}
	work := make(chan *pchunk, inflight)
	ordered := make(chan *pchunk, inflight)
	tokens := make(chan struct{}, inflight) // bounds the chunks alive at once
	var errs []error                        // the producer's, in input order

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // producer: owns errs until wg.Wait
		defer wg.Done()
		defer close(ordered)
		defer close(work)
		seq := 0
		emit := func(c *pchunk) bool {
			select {
			case tokens <- struct{}{}:
			case <-ctx.Done():
				return false
			}
			c.seq, c.done = seq, make(chan struct{})
			seq++
			work <- c    // never blocks for long: at most inflight chunks exist
			ordered <- c // (idem)
			return true
		}
		for _, s := range srcs {
			if ctx.Err() != nil || !pp.produce(ctx, s, pool, emit, &errs) {
				return
			}
		}
	}()
	for range pp.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var vals *valueCache // the worker's, across its chunks
			if !pp.b.p.fullDecode {
				vals = newValueCache()
			}
			for c := range work {
				if ctx.Err() == nil {
					c.res = pp.speculate(c, vals)
				}
				close(c.done)
			}
		}()
	}
	// Merge in input order, in the caller's goroutine (OnSession runs here).
	var cur fileHdr
	var ctxErr error
	for c := range ordered {
		<-c.done
		if ctxErr == nil {
			if err := ctx.Err(); err != nil || c.res == nil {
				ctxErr = cmp.Or(err, context.Canceled)
				cancel()
			} else {
				cur = pp.merge(c, cur)
			}
		}
		if c.buf != nil {
			*c.buf = c.data[:0]
			pool.put(c.buf)
		}
		<-tokens
	}
	wg.Wait()
	if ctxErr == nil {
		ctxErr = parent.Err()
	}
	if ctxErr != nil {
		errs = append(errs, fmt.Errorf("parse: %w", ctxErr))
	}
	return errors.Join(errs...)
}

// bufPool recycles chunk buffers for the length of one parse. Unlike a
// sync.Pool it keeps them across garbage collections, so a large file is
// read into the same few buffers (at most inflight exist at once: the
// chunk tokens bound them) instead of fresh memory every few chunks.
type bufPool struct {
	free chan *[]byte
	size int
}

func (p *bufPool) get() *[]byte {
	select {
	case b := <-p.free:
		return b
	default:
		b := make([]byte, 0, p.size)
		return &b
	}
}

func (p *bufPool) put(b *[]byte) {
	select {
	case p.free <- b:
	default: // more than the pool holds: let it go
	}
}

// produce reads one source and emits its chunks; false: stop everything.
func (pp *parallelParse) produce(ctx context.Context, s source, pool *bufPool, emit func(*pchunk) bool, errs *[]error) bool {
	rc, err := s.open()
	if err != nil {
		*errs = append(*errs, err)
		return true
	}
	defer rc.Close()
	f := &pfile{name: s.name}
	var long, read int64 // since the last chunk emitted
	first := true
	var carry []byte // the start of an incomplete line
	skipping := false
	for {
		if err := ctx.Err(); err != nil {
			return false
		}
		bp := pool.get()
		buf := append((*bp)[:0], carry...)
		target := len(carry) + pp.chunkSize
		carry = nil
		var rerr error
		for len(buf) < target && rerr == nil {
			if cap(buf) == len(buf) {
				buf = slices.Grow(buf, pp.chunkSize)
			}
			n, err := rc.Read(buf[len(buf):cap(buf)])
			rerr = err
			if n <= 0 {
				continue
			}
			read += int64(n)
			got := buf[len(buf) : len(buf)+n]
			if skipping {
				i := bytes.IndexByte(got, '\n')
				if i < 0 {
					continue // the long line goes on: drop what was read
				}
				skipping = false
				n = copy(got, got[i+1:])
			}
			buf = buf[:len(buf)+n]
		}
		*bp = buf[:0]
		eof := rerr != nil
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			*errs = append(*errs, fmt.Errorf("read %s: %w", s.name, rerr))
		}
		data := buf
		if !eof {
			i := bytes.LastIndexByte(buf, '\n')
			rest := buf[i+1:]
			if len(rest) > pp.maxLine+1 {
				// The line being read is longer than any line kept.
				long++
				skipping = true
				rest = nil
			}
			carry = append([]byte(nil), rest...)
			if i < 0 { // no line ends in this block
				pool.put(bp)
				continue
			}
			data = buf[:i+1]
		}
		if first {
			f.lead = leadHeader(f.name, data, pp.maxLine)
		}
		c := &pchunk{file: f, first: first, last: eof, data: data, buf: bp, long: long, bytes: read}
		long, read, first = 0, 0, false
		if !emit(c) {
			return false
		}
		if eof {
			return true
		}
	}
}

// leadHeader is the header state after the leading header and empty lines
// of a file's first chunk.
func leadHeader(name string, data []byte, maxLine int) fileHdr {
	fs := newFileState(name)
	e := engine{stats: &Stats{}}
	forLines(data, maxLine, func(line []byte, _ int) bool {
		l := line
		if fs.lines == 0 {
			l = bytes.TrimPrefix(l, utf8BOM)
		}
		if len(l) > 0 && l[0] != '#' {
			return false
		}
		e.line(fs, line)
		return true
	})
	return hdrOf(fs)
}

// forLines calls fn for every line of data (terminator stripped) with its
// offset, skipping lines over maxLine+1 bytes as lineFeeder does; it
// returns how many it skipped. fn returns false to stop.
func forLines(data []byte, maxLine int, fn func(line []byte, off int) bool) (long int64) {
	off := 0
	for off < len(data) {
		i := bytes.IndexByte(data[off:], '\n')
		end := off + i
		if i < 0 {
			end = len(data)
		}
		if end-off > maxLine+1 {
			long++
		} else if !fn(trimCR(data[off:end]), off) {
			return long
		}
		off = end + 1
	}
	return long
}

// speculate parses a chunk on its own (see the comment at the top).
func (pp *parallelParse) speculate(c *pchunk, vals *valueCache) *chunkResult {
	res := &chunkResult{ok: true}
	var fs *fileState
	if c.first {
		fs = newFileState(c.file.name)
	} else {
		fs = c.file.lead.state()
	}
	tr := newTracker(1<<62, &Stats{}, func(*sessState) {})
	tr.vals, tr.eager, tr.check = vals, pp.b.p.fullDecode, pp.b.p.CheckView
	var seen [3]map[string]struct{}
	for i := range seen {
		seen[i] = map[string]struct{}{}
	}
	tr.created = func(st *sessState) {
		st.pos, st.closePos = tr.pos, -1
		if m := seen[st.S.Direction]; !hasKey(m, st.S.ID) {
			m[st.S.ID] = struct{}{}
			st.firstInChunk = true
		}
		res.instances = append(res.instances, st)
	}
	tr.closed = func(st *sessState) { st.closePos = tr.pos }
	e := engine{tr: tr, stats: &res.stats, full: pp.b.p.fullDecode}
	res.stats.LongLines = c.long
	// forLines with engine.line, its fast path in the loop: a data row
	// (not the file's first line, no header) of a file in the default
	// column order goes straight to fastRow (engine.line's steps for it,
	// in its order).
	data, maxLine := c.data, pp.maxLine
	fast := !e.full && fs.fm == defaultFieldMap()
	for off := 0; off < len(data); {
		end := off + bytes.IndexByte(data[off:], '\n')
		if end < off {
			end = len(data)
		}
		if end-off > maxLine+1 {
			res.stats.LongLines++
		} else {
			line := trimCR(data[off:end])
			tr.pos = int64(off)
			if fast && fs.lines > 0 && len(line) > 0 && line[0] != '#' {
				e.stats.Lines++
				fs.lines++
				if e.fastRow(fs, line) {
					e.stats.Rows++
				} else {
					e.splitRow(fs, line)
				}
			} else {
				h := res.stats.HeaderLines
				e.line(fs, line)
				if res.stats.HeaderLines != h {
					res.headers = true
				}
				fast = !e.full && fs.fm == defaultFieldMap()
			}
			if len(res.instances) > pp.maxOpen {
				res.ok = false // too many sessions to hold: the merger evicts
				break
			}
		}
		off = end + 1
	}
	res.end = hdrOf(fs)
	return res
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}

// merge folds chunk c into the batch; cur is the true header state at the
// chunk's start (ignored for a file's first chunk). It returns the state
// after the chunk.
func (pp *parallelParse) merge(c *pchunk, cur fileHdr) fileHdr {
	b := pp.b
	tr := b.eng.tr
	b.sum.Stats.Bytes += c.bytes
	if c.first {
		b.sum.Stats.Files++
		cur = hdrOf(newFileState(c.file.name))
	}
	assumed := c.file.lead
	if c.first {
		assumed = cur
	}
	res := c.res
	var end fileHdr
	if !res.ok || !sameHdr(cur, assumed) || tr.nOpen+len(res.instances) > tr.maxOpen {
		end = pp.sequential(c, cur)
	} else {
		pp.speculative(c, res, cur)
		end = res.end
	}
	if c.last {
		b.sum.Files = append(b.sum.Files, end.info)
	}
	return end
}

type dirID struct {
	d  Direction
	id string
}

// sequential parses the chunk with the batch's own engine from the true
// header state.
func (pp *parallelParse) sequential(c *pchunk, start fileHdr) fileHdr {
	b := pp.b
	fs := start.state()
	b.sum.Stats.LongLines += c.long
	b.sum.Stats.LongLines += forLines(c.data, pp.maxLine, func(line []byte, _ int) bool {
		b.eng.line(fs, line)
		return true
	})
	return hdrOf(fs)
}

// speculative merges a worker's result whose assumptions hold; start is
// the header state at the chunk's start.
func (pp *parallelParse) speculative(c *pchunk, res *chunkResult, start fileHdr) {
	b := pp.b
	tr := b.eng.tr
	st := res.stats
	st.Sessions, st.Evicted, st.Files, st.Bytes = 0, 0, 0, 0
	b.sum.Stats.add(st)

	// Continuations: the chunk's first instances of sessions still open.
	cont := map[dirID]bool{}
	from := int64(len(c.data))
	for _, s := range res.instances {
		if s.firstInChunk && tr.open[s.S.Direction][s.S.ID] != nil {
			s.continued = true
			cont[dirID{s.S.Direction, s.S.ID}] = true
			from = min(from, s.pos)
		}
	}
	type closing struct {
		pos    int64
		st     *sessState
		worker bool // a session of the worker's, never in the open set
	}
	var closes []closing
	if len(cont) > 0 {
		// Apply the continued sessions' rows, up to their '-' row, to the
		// carried sessions, tracking header lines as engine.line does.
		fs := start.state()
		if res.headers || start.lines == 0 {
			from = 0 // follow the header state from the chunk's start
		}
		var sp splitter
		var row rawRow
		saved := tr.emit
		tr.emit = func(s *sessState) { closes = append(closes, closing{pos: tr.pos, st: s}) }
		forLines(c.data[from:], pp.maxLine, func(line []byte, off int) bool {
			if fs.lines == 0 {
				line = bytes.TrimPrefix(line, utf8BOM)
			}
			fs.lines++
			if len(line) == 0 {
				return true
			}
			if line[0] == '#' {
				fs.header(line)
				return true
			}
			if fs.fm == defaultFieldMap() {
				// Most rows here are other sessions': their id, cut
				// as the full decode would, is not a continued open one.
				// (connCache cuts as cutColumns does, FuzzConnCache.)
				var sess []byte
				var ends [8]int
				if _, s0, ok := pp.conns.cutAt(line, &ends); ok {
					sess = line[s0:ends[0]]
				} else {
					var cols [colSession + 1][]byte
					if _, ok := cutColumns(line, cols[:]); ok {
						sess = cols[colSession]
						pp.conns.learn(line, cols[colDateTime], cols[colConnector])
					}
				}
				if sess != nil {
					if st := tr.lookup(fs.info.Direction, sess); st == nil || !cont[dirID{fs.info.Direction, st.S.ID}] {
						return true
					}
				}
			}
			if sp.split(line, &fs.fm, &row) != nil {
				return true
			}
			k := dirID{fs.info.Direction, string(row.session)}
			if !cont[k] {
				return true
			}
			tr.pos = from + int64(off)
			tr.row(&row, fs.info.Direction, fs.info.Name)
			if row.event == EventDisconnect {
				delete(cont, k)
			}
			return len(cont) > 0
		})
		tr.emit = saved
	}
	for _, s := range res.instances {
		if s.continued {
			continue
		}
		s.Ord = tr.ord
		tr.ord++
		if s.closePos >= 0 {
			closes = append(closes, closing{pos: s.closePos, st: s, worker: true})
			continue
		}
		tr.open[s.S.Direction][s.S.ID] = s
		s.live = true
		tr.nOpen++
	}
	slices.SortStableFunc(closes, func(x, y closing) int { return cmp.Compare(x.pos, y.pos) })
	for _, cl := range closes {
		if cl.worker {
			tr.stats.Sessions++
		}
		tr.emit(cl.st)
	}
}
