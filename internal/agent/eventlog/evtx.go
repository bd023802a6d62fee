package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// EVTX layout (the format Windows Vista and later write, also what
// wevtutil epl and Event Viewer export): a 4096-byte file header, then
// 64 KiB chunks. A chunk holds a 512-byte header (with the tables of
// names and templates Windows keeps for itself), then event records:
// signature 0x00002a2a, size, record ID, FILETIME written, binary XML,
// and the size again.
const (
	fileHeaderSize  = 4096
	chunkSize       = 65536
	chunkHeaderSize = 512
	recordHeader    = 24
	recordMagic     = 0x00002a2a
)

var (
	fileMagic  = []byte("ElfFile\x00")
	chunkMagic = []byte("ElfChnk\x00")
)

// File is an exported .evtx file.
type File struct{ Path string }

func (f *File) Name() string { return "evtx:" + f.Path }

func (f *File) Read(ctx context.Context, q Query) (Result, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return Result{}, fmt.Errorf("eventlog: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("eventlog: %w", err)
	}
	res, err := ReadEVTX(ctx, fh, st.Size(), q)
	if err != nil {
		return res, fmt.Errorf("%s: %w", f.Path, err)
	}
	return res, nil
}

// ReadEVTX decodes an EVTX image of size bytes, one chunk in memory at a
// time. Damaged records are counted (Result.Skipped) and the rest of
// their chunk is skipped; a file with no readable record is ErrNoRecords.
func ReadEVTX(ctx context.Context, r io.ReaderAt, size int64, q Query) (Result, error) {
	head := make([]byte, 128)
	if _, err := r.ReadAt(head, 0); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrNotEVTX, err)
	}
	if !bytes.Equal(head[:8], fileMagic) {
		return Result{}, ErrNotEVTX
	}
	c := collector{q: q}
	buf := make([]byte, chunkSize)
	for off := int64(fileHeaderSize); off+chunkSize <= size; off += chunkSize {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if _, err := r.ReadAt(buf, off); err != nil {
			return Result{}, fmt.Errorf("eventlog: chunk at %d: %w", off, err)
		}
		if !bytes.Equal(buf[:8], chunkMagic) {
			continue // an unused (zeroed) chunk
		}
		readChunk(buf, &c)
	}
	if c.res.Scanned == 0 {
		return c.result(), ErrNoRecords
	}
	return c.result(), nil
}

// readChunk decodes the records of one chunk into c.
func readChunk(chunk []byte, c *collector) {
	free := int(binary.LittleEndian.Uint32(chunk[48:]))
	if free < chunkHeaderSize || free > len(chunk) {
		free = len(chunk)
	}
	d := &decoder{chunk: chunk, templates: map[uint32][]tnode{}}
	for off := chunkHeaderSize; off+recordHeader+4 <= free; {
		if binary.LittleEndian.Uint32(chunk[off:]) != recordMagic {
			if off < free {
				c.res.Skipped++
			}
			return
		}
		sz := int(binary.LittleEndian.Uint32(chunk[off+4:]))
		if sz < recordHeader+4 || off+sz > len(chunk) || int(binary.LittleEndian.Uint32(chunk[off+sz-4:])) != sz {
			c.res.Skipped++
			return
		}
		e, err := d.record(off, sz)
		if errors.Is(err, errChunkBudget) {
			c.res.Scanned++
			c.res.Skipped++
			return
		}
		if err != nil {
			c.res.Scanned++
			c.res.Skipped++
		} else {
			c.add(e)
		}
		off += sz
	}
}

// record decodes the binary XML of the record at off.
func (d *decoder) record(off, size int) (e Event, err error) {
	defer func() {
		// The decoder bounds-checks every read; this only keeps a bug in it
		// from taking the agent down on a hostile file.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrMalformed, p)
		}
	}()
	d.nodes, d.cost, d.end = 0, 0, off+size-4
	root, err := d.fragmentRoot(off + recordHeader)
	if err != nil {
		return Event{}, err
	}
	e, err = eventFromTree(root)
	if err != nil {
		return Event{}, err
	}
	e.RecordID = binary.LittleEndian.Uint64(d.chunk[off+8:])
	if e.Time.IsZero() {
		e.Time = filetime(binary.LittleEndian.Uint64(d.chunk[off+16:]))
	}
	return e, nil
}

// filetime converts 100 ns ticks since 1601 to UTC.
func filetime(ft uint64) time.Time {
	const epochDiff = 116444736000000000 // 1601 -> 1970 in 100 ns
	if ft < epochDiff || ft > 1<<62 {
		return time.Time{}
	}
	return time.Unix(0, int64(ft-epochDiff)*100).UTC()
}

var errShort = errors.New("read past the record")
