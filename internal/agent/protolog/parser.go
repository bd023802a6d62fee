package protolog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults for Parser and Tailer bounds.
const (
	DefaultMaxLineBytes    = 64 << 10
	DefaultMaxOpenSessions = 100_000
	readChunk              = 256 << 10
	ctxCheckEvery          = 4096 // lines between ctx.Err() checks
)

// Stats counts what a parse saw.
type Stats struct {
	Files       int   `json:"files"`
	Bytes       int64 `json:"bytes"`
	Lines       int64 `json:"lines"`
	HeaderLines int64 `json:"headerLines"`
	Rows        int64 `json:"rows"`      // data rows applied to sessions
	BadRows     int64 `json:"badRows"`   // unparseable data lines (quoting, event, session id)
	LongLines   int64 `json:"longLines"` // lines over the length cap, skipped
	Sessions    int64 `json:"sessions"`  // sessions emitted
	Evicted     int64 `json:"evicted"`   // sessions flushed early by the open-session cap
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) { s.add(o) }

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.Bytes += o.Bytes
	s.Lines += o.Lines
	s.HeaderLines += o.HeaderLines
	s.Rows += o.Rows
	s.BadRows += o.BadRows
	s.LongLines += o.LongLines
	s.Sessions += o.Sessions
	s.Evicted += o.Evicted
}

// FileInfo describes one parsed log file's header.
type FileInfo struct {
	Name      string    `json:"name"`
	Direction Direction `json:"direction"`
	LogType   string    `json:"logType,omitempty"`
	Software  string    `json:"software,omitempty"`
	Version   string    `json:"version,omitempty"`
	Date      time.Time `json:"date,omitzero"`
	Fields    []string  `json:"fields,omitempty"` // nil: documented default order
}

// Summary is the result of a batch parse.
type Summary struct {
	Files    []FileInfo `json:"files"`
	Sessions []Session  `json:"sessions"` // ordered by first appearance
	Stats    Stats      `json:"stats"`
}

// Parser parses whole protocol log files. The zero value is ready to use.
type Parser struct {
	// MaxLineBytes caps a line's length; longer lines are skipped and
	// counted in Stats.LongLines. Zero means DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxOpenSessions caps sessions held open at once; past it the least
	// recently active quarter is flushed early (Closed=false). Zero means
	// DefaultMaxOpenSessions.
	MaxOpenSessions int
	// OnSession, if set, receives each session as it completes and
	// Summary.Sessions stays empty (streaming, bounded memory). It is called
	// from the goroutine that called Parse/ParseFiles, in log order.
	OnSession func(Session)
	// Workers is how many goroutines parse chunks of the input in
	// parallel (parallel.go). Zero means GOMAXPROCS.
	Workers int
	// CheckView makes every session CheckView of itself (checkview.go):
	// for a consumer that reads no more, such as diagnose.LogWindow, at less
	// cost per row.
	CheckView bool

	chunkBytes int  // tests: chunk size (0: DefaultChunkBytes)
	fullDecode bool // tests: no fast path (quick.go)
}

func (p *Parser) maxLine() int { return cmp.Or(p.MaxLineBytes, DefaultMaxLineBytes) }

func (p *Parser) maxOpen() int { return max(cmp.Or(p.MaxOpenSessions, DefaultMaxOpenSessions), 1) }

// fileState is the per-file header state.
type fileState struct {
	info  FileInfo
	fm    fieldMap
	lines int64
}

func newFileState(name string) *fileState {
	fs := &fileState{info: FileInfo{Name: name, Direction: directionFromName(name)}, fm: defaultFieldMap()}
	return fs
}

// directionFromName infers direction from SENDyyyymmdd-n.log /
// RECVyyyymmdd-n.log or an SmtpSend/SmtpReceive directory.
func directionFromName(name string) Direction {
	base := strings.ToUpper(filepath.Base(name))
	switch {
	case strings.HasPrefix(base, "SEND"):
		return DirectionSend
	case strings.HasPrefix(base, "RECV"):
		return DirectionReceive
	}
	dir := strings.ToLower(filepath.ToSlash(name))
	switch {
	case strings.Contains(dir, "smtpsend"):
		return DirectionSend
	case strings.Contains(dir, "smtpreceive"):
		return DirectionReceive
	}
	return DirectionUnknown
}

// engine drives lines -> rows -> sessions. Shared by Parser and Tailer.
type engine struct {
	sp    splitter
	row   rawRow
	tr    *tracker
	conns connCache // the fast path's (quick.go)
	stats *Stats
	full  bool // tests: no fast path (quick.go), every row fully decoded
}

// line processes one line (terminator already stripped) of file fs.
func (e *engine) line(fs *fileState, line []byte) {
	e.stats.Lines++
	if fs.lines == 0 {
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	fs.lines++
	if len(line) == 0 {
		return
	}
	if line[0] == '#' {
		e.stats.HeaderLines++
		fs.header(line)
		return
	}
	if !e.full && fs.fm == defaultFieldMap() && e.fastRow(fs, line) {
		e.stats.Rows++
		return
	}
	e.splitRow(fs, line)
}

// splitRow is engine.line for a data row the fast path did not take.
func (e *engine) splitRow(fs *fileState, line []byte) {
	if err := e.sp.split(line, &fs.fm, &e.row); err != nil {
		e.stats.BadRows++
		return
	}
	e.stats.Rows++
	e.tr.row(&e.row, fs.info.Direction, fs.info.Name)
}

// header applies a '#' line.
func (fs *fileState) header(line []byte) {
	key, val, ok := bytes.Cut(line[1:], []byte(":"))
	if !ok {
		return
	}
	v := strings.TrimSpace(capString(val))
	switch strings.ToLower(strings.TrimSpace(string(key))) {
	case "fields":
		names := strings.Split(v, ",")
		if len(names) > maxColumns {
			names = names[:maxColumns]
		}
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
		}
		fs.info.Fields = names
		fs.fm = newFieldMap(names)
	case "log-type":
		fs.info.LogType = v
		lv := strings.ToLower(v)
		switch {
		case strings.Contains(lv, "send"):
			fs.info.Direction = DirectionSend
		case strings.Contains(lv, "receive"):
			fs.info.Direction = DirectionReceive
		}
	case "software":
		fs.info.Software = v
	case "version":
		fs.info.Version = v
	case "date":
		fs.info.Date, _ = parseTime([]byte(v))
	}
}

// batch is one Parse/ParseFiles run.
type batch struct {
	p        *Parser
	eng      engine
	sum      *Summary
	sessions []*sessState
}

func (p *Parser) newBatch() *batch {
	b := &batch{p: p, sum: &Summary{}}
	b.eng.stats = &b.sum.Stats
	b.eng.full = p.fullDecode
	b.eng.tr = newTracker(p.maxOpen(), &b.sum.Stats, func(st *sessState) {
		if p.OnSession != nil { // (st is not read once emitted: no copy kept)
			if p.CheckView {
				p.OnSession(CheckView(st.S))
			} else {
				p.OnSession(st.S)
			}
			return
		}
		if p.CheckView {
			st.S = CheckView(st.S)
		}
		b.sessions = append(b.sessions, st)
	})
	if !p.fullDecode {
		b.eng.tr.vals = newValueCache()
	}
	b.eng.tr.eager = p.fullDecode
	b.eng.tr.check = p.CheckView
	return b
}

func (b *batch) finish() *Summary {
	b.eng.tr.flushAll()
	slices.SortFunc(b.sessions, func(x, y *sessState) int { return cmp.Compare(x.Ord, y.Ord) })
	b.sum.Sessions = make([]Session, len(b.sessions))
	for i, st := range b.sessions {
		b.sum.Sessions[i] = st.S
	}
	return b.sum
}

// feed reads r to EOF. A final line without newline is processed.
func (b *batch) feed(ctx context.Context, r io.Reader, name string) error {
	fs := newFileState(name)
	b.sum.Stats.Files++
	defer func() { b.sum.Files = append(b.sum.Files, fs.info) }()
	lf := lineFeeder{max: b.p.maxLine()}
	buf := make([]byte, readChunk)
	var n int64
	fn := func(line []byte) {
		b.eng.line(fs, line)
		n++
	}
	defer func() { b.sum.Stats.LongLines += lf.long }()
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parse %s: %w", name, err)
		}
		k, err := r.Read(buf)
		if k > 0 {
			b.sum.Stats.Bytes += int64(k)
			lf.feed(buf[:k], fn)
		}
		if errors.Is(err, io.EOF) {
			lf.finish(fn)
			return nil
		}
		if err != nil {
			lf.finish(fn)
			return fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// Parse parses one log stream. name is used for direction inference and
// Session.Files when the stream has no #Log-Type header.
func (p *Parser) Parse(ctx context.Context, r io.Reader, name string) (*Summary, error) {
	b := p.newBatch()
	err := b.parallel().run(ctx, []source{{name: name, open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}})
	return b.finish(), err
}

// parseSequential is Parse on one goroutine, line by line: the reference
// the parallel path is tested against.
func (p *Parser) parseSequential(ctx context.Context, r io.Reader, name string) (*Summary, error) {
	b := p.newBatch()
	err := b.feed(ctx, r, name)
	return b.finish(), err
}

func (b *batch) parallel() *parallelParse {
	return &parallelParse{b: b, workers: b.p.workers(), chunkSize: b.p.chunkSize(), maxLine: b.p.maxLine(), maxOpen: b.p.maxOpen()}
}

// ParseFile parses one file.
func (p *Parser) ParseFile(ctx context.Context, path string) (*Summary, error) {
	return p.ParseFiles(ctx, []string{path})
}

// ParseFiles parses several files as one stream so that sessions spanning
// rotated files are joined. Files are processed in rotation order (see
// SortLogFiles). On error the partial Summary is returned with the error.
func (p *Parser) ParseFiles(ctx context.Context, paths []string) (*Summary, error) {
	paths = slices.Clone(paths)
	SortLogFiles(paths)
	b := p.newBatch()
	srcs := make([]source, len(paths))
	for i, path := range paths {
		srcs[i] = source{name: path, open: func() (io.ReadCloser, error) {
			f, err := openLog(path)
			if err != nil {
				return nil, fmt.Errorf("open protocol log: %w", err)
			}
			return f, nil
		}}
	}
	err := b.parallel().run(ctx, srcs)
	return b.finish(), err
}

// parseFilesSequential is ParseFiles on one goroutine (the reference).
func (p *Parser) parseFilesSequential(ctx context.Context, paths []string) (*Summary, error) {
	paths = slices.Clone(paths)
	SortLogFiles(paths)
	b := p.newBatch()
	var errs []error
	for _, path := range paths {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("parse: %w", err))
			break
		}
		f, err := openLog(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("open protocol log: %w", err))
			continue
		}
		err = b.feed(ctx, f, path)
		f.Close()
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return b.finish(), errors.Join(errs...)
}

// SortLogFiles orders paths for parsing: by directory, then by the date
// and sequence number in SENDyyyymmdd-n.log / RECVyyyymmdd-n.log (numeric
// n, so -10 follows -9), then by name.
func SortLogFiles(paths []string) {
	slices.SortStableFunc(paths, func(a, b string) int {
		if c := cmp.Compare(filepath.Dir(a), filepath.Dir(b)); c != 0 {
			return c
		}
		pa, da, na := logFileKey(a)
		pb, db, nb := logFileKey(b)
		return cmp.Or(cmp.Compare(pa, pb), cmp.Compare(da, db), cmp.Compare(na, nb), cmp.Compare(a, b))
	})
}

func logFileKey(path string) (prefix, date string, n int) {
	base := strings.ToUpper(filepath.Base(path))
	base = strings.TrimSuffix(base, ".LOG")
	i := 0
	for i < len(base) && (base[i] < '0' || base[i] > '9') {
		i++
	}
	prefix = base[:i]
	rest := base[i:]
	date, num, _ := strings.Cut(rest, "-")
	n, err := strconv.Atoi(num)
	if err != nil {
		n = -1
	}
	return prefix, date, n
}

// ParseDirs finds protocol logs under roots (see FindLogFiles) and parses
// them with ParseFiles.
func (p *Parser) ParseDirs(ctx context.Context, roots []string, maxDepth int) (*Summary, error) {
	paths, err := FindLogFiles(ctx, roots, maxDepth)
	if err != nil && len(paths) == 0 {
		return &Summary{}, err
	}
	sum, perr := p.ParseFiles(ctx, paths)
	return sum, errors.Join(err, perr)
}
