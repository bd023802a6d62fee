package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Segment files are named seg-<20-digit id>.log; ids increase with every
// new segment, so lexical order is creation order.
const (
	segPrefix = "seg-"
	segSuffix = ".log"
)

func segName(id uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, id, segSuffix) }

// parseSegName returns the id of a segment file name.
func parseSegName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix)
	if len(digits) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return id, true
}

// segment is one file of the spool and its slice of the index.
type segment struct {
	id   uint64
	path string
	// size is the end of the last record this process knows about (for
	// the active segment, where the next record is written).
	size int64
	// entries are the segment's live records in seq order.
	entries []entry
	// f is the write handle; only the active segment has one.
	f *os.File
	// broken: a failed write or sync left the tail in an unknown state;
	// the next Append starts a new segment.
	broken bool
}

// scannedRecord is a well-formed record found by scanSegment.
type scannedRecord struct {
	off     int64
	size    int64
	seq     uint64
	results uint16
}

// corruption describes a region scanSegment skipped.
type corruption struct {
	off    int64  // where the bad region starts
	end    int64  // where good data resumes (the file size if it never does)
	reason string // first problem found at off
}

// scanResult summarises a scan.
type scanResult struct {
	records int
	corrupt []corruption
}

// resyncWindow is how much scanSegment reads at a time while looking for
// the next record magic.
const resyncWindow = 64 << 10

// scanSegment walks the records of a segment of the given size, calling
// fn for every well-formed record of a known version in file order.
//
// Resync strategy: when the frame at pos is bad (wrong magic, header CRC
// mismatch, implausible length, payload CRC mismatch, or it runs past the
// end of the file), the scanner searches forward from pos+1 for the next
// occurrence of the 4-byte magic and accepts a candidate only if its header
// CRC and payload CRC both verify. Everything skipped is reported as one
// corruption. A frame with a good header CRC but an unknown version or
// flags is skipped by its (verified) length and reported as a corruption of
// its own. scanSegment never fails: read errors end the scan and are
// reported as a corruption running to the end of the file.
func scanSegment(r io.ReaderAt, size int64, fn func(scannedRecord)) scanResult {
	var res scanResult
	var buf []byte
	pos := int64(0)
	for pos < size {
		h, st, reason := readFrame(r, size, pos, &buf)
		switch st {
		case frameOK:
			res.records++
			fn(scannedRecord{off: pos, size: h.size(), seq: h.seq, results: h.results})
			pos += h.size()
			continue
		case frameUnknown:
			res.corrupt = append(res.corrupt, corruption{off: pos, end: pos + h.size(), reason: reason})
			pos += h.size()
			continue
		}
		next := resync(r, size, pos+1, &buf)
		res.corrupt = append(res.corrupt, corruption{off: pos, end: next, reason: reason})
		pos = next
	}
	return res
}

type frameStatus int

const (
	frameOK      frameStatus = iota
	frameUnknown             // well-formed, unknown version or flags
	frameBad                 // anything else
)

// readFrame validates the frame at pos. buf is reused between calls.
func readFrame(r io.ReaderAt, size, pos int64, buf *[]byte) (recordHeader, frameStatus, string) {
	if size-pos < recordHeaderSize {
		return recordHeader{}, frameBad, "truncated header"
	}
	var hb [recordHeaderSize]byte
	if _, err := r.ReadAt(hb[:], pos); err != nil {
		return recordHeader{}, frameBad, "read header: " + err.Error()
	}
	h, ok := parseHeader(hb[:])
	if !ok {
		return recordHeader{}, frameBad, "bad header"
	}
	if pos+h.size() > size {
		return recordHeader{}, frameBad, "truncated record"
	}
	if cap(*buf) < int(h.length) {
		*buf = make([]byte, h.length)
	}
	p := (*buf)[:h.length]
	if _, err := r.ReadAt(p, pos+recordHeaderSize); err != nil && !(errors.Is(err, io.EOF) && h.length == 0) {
		return recordHeader{}, frameBad, "read payload: " + err.Error()
	}
	if crc32c(p) != h.payloadCRC {
		return recordHeader{}, frameBad, "payload checksum mismatch"
	}
	if !h.known() {
		return h, frameUnknown, fmt.Sprintf("unknown record version %d flags %#x", h.version, h.flags)
	}
	return h, frameOK, ""
}

// resync returns the offset of the first well-formed frame (any version) at
// or after from, or size if there is none.
func resync(r io.ReaderAt, size, from int64, buf *[]byte) int64 {
	win := make([]byte, min(resyncWindow, max(size-from, 0)))
	for start := from; start < size; {
		n := min(int64(len(win)), size-start)
		w := win[:n]
		if _, err := r.ReadAt(w, start); err != nil && !errors.Is(err, io.EOF) {
			return size
		}
		for i := 0; ; {
			j := bytes.Index(w[i:], recordMagic[:])
			if j < 0 {
				break
			}
			cand := start + int64(i+j)
			if _, st, _ := readFrame(r, size, cand, buf); st != frameBad {
				return cand
			}
			i += j + 1
		}
		if start+n >= size {
			break
		}
		// Overlap so a magic split across windows is still seen.
		start += n - int64(len(recordMagic)-1)
	}
	return size
}

// readRecord reads and verifies the record at off and returns its payload.
func readRecord(r io.ReaderAt, off, size int64) (recordHeader, []byte, error) {
	if size < recordHeaderSize || size > recordHeaderSize+MaxBatchBytes {
		return recordHeader{}, nil, fmt.Errorf("record size %d out of range", size)
	}
	b := make([]byte, size)
	if _, err := r.ReadAt(b, off); err != nil {
		return recordHeader{}, nil, fmt.Errorf("read record at %d: %w", off, err)
	}
	h, ok := parseHeader(b)
	if !ok || h.size() != size {
		return recordHeader{}, nil, fmt.Errorf("bad record header at %d", off)
	}
	if !h.known() {
		return recordHeader{}, nil, fmt.Errorf("unknown record version %d at %d", h.version, off)
	}
	p := b[recordHeaderSize:]
	if crc32c(p) != h.payloadCRC {
		return recordHeader{}, nil, fmt.Errorf("payload checksum mismatch at %d", off)
	}
	return h, p, nil
}

// createSegment creates a new, empty segment file for writing.
func createSegment(dir string, id uint64) (*segment, error) {
	path := filepath.Join(dir, segName(id))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: create segment: %w", err)
	}
	return &segment{id: id, path: path, f: f}, nil
}

// closeFile closes the write handle, if any.
func (sg *segment) closeFile() error {
	if sg.f == nil {
		return nil
	}
	err := sg.f.Close()
	sg.f = nil
	if err != nil {
		return fmt.Errorf("spool: close segment %s: %w", filepath.Base(sg.path), err)
	}
	return nil
}

// remove closes and deletes the segment file. Closing first matters on
// Windows, where an open file cannot be deleted.
func (sg *segment) remove() error {
	cerr := sg.closeFile()
	if err := os.Remove(sg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return errors.Join(cerr, fmt.Errorf("spool: remove segment: %w", err))
	}
	return cerr
}
