package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/mxprobe/mxprobe/internal/sharedfile"
)

// The meta file records what cannot be derived from the segments once they
// are deleted, and the spool's loss accounting. Layout (96 bytes, little
// endian, version 2):
//
//	off size field
//	  0    4 magic "MXSM"
//	  4    4 version (metaVersion)
//	  8    8 lastSeq: highest seq ever appended, acknowledged or about to be
//	         appended (written before the record, so never reused)
//	 16    8 floor: every batch with seq <= floor is acknowledged or dropped
//	 24    8 lost batches dropped because the spool was full
//	 32    8 lost batches never stored (write failure, e.g. ENOSPC; too large)
//	 40    8 lost batches found damaged and not committed by the controller
//	 48    8 check results in the dropped and unwritten batches
//	 56    8 first loss (unix nanoseconds, 0: none)
//	 64    8 latest loss (unix nanoseconds)
//	 72    8 reported: lost-batch total the controller acknowledged a report of
//	 80    8 accounted: missing seqs at or below it are already accounted for
//	 88    4 reserved (0)
//	 92    4 CRC32-C of bytes [0,92)
//
// Version 1 files (32 bytes: magic, version, lastSeq, floor, reserved, CRC)
// are read as a version 2 with no losses and rewritten as version 2.
//
// It is replaced atomically: written to meta.tmp, fsynced, renamed over
// meta, and the directory fsynced (except on Windows, where directories
// cannot be fsynced through package os; NTFS journals the rename). The
// write that reserves a sequence before its record follows the sync policy
// (SyncNone skips the fsyncs: the page cache survives a process crash).
const (
	metaName    = "meta"
	metaTmpName = "meta.tmp"
	metaSize    = 96
	metaV1Size  = 32
	metaVersion = 2
)

var metaMagic = [4]byte{'M', 'X', 'S', 'M'}

// errBadMeta: the meta file exists but cannot be trusted.
var errBadMeta = errors.New("spool: corrupt meta file")

type meta struct {
	version uint32 // as read (encode always writes metaVersion)
	lastSeq uint64
	floor   uint64
	loss    lossCounters
	// reported is the lost-batch total of the newest loss report the
	// controller acknowledged.
	reported uint64
	// accounted: every seq at or below it that is missing from the
	// segments has been counted (lost) or resolved (committed).
	accounted uint64
}

// lossCounters are the cumulative losses (Loss is their exported view).
type lossCounters struct {
	full, write, corrupt uint64
	results              uint64
	first, last          int64 // unix nanoseconds
}

func (l lossCounters) batches() uint64 { return l.full + l.write + l.corrupt }

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	copy(b[0:4], metaMagic[:])
	le := binary.LittleEndian
	le.PutUint32(b[4:8], metaVersion)
	for i, v := range []uint64{m.lastSeq, m.floor, m.loss.full, m.loss.write, m.loss.corrupt, m.loss.results,
		uint64(m.loss.first), uint64(m.loss.last), m.reported, m.accounted} {
		le.PutUint64(b[8+8*i:], v)
	}
	le.PutUint32(b[92:96], crc32c(b[:92]))
	return b
}

func decodeMeta(b []byte) (meta, error) {
	le := binary.LittleEndian
	if len(b) < 8 || [4]byte(b[0:4]) != metaMagic {
		return meta{}, fmt.Errorf("%w: bad magic", errBadMeta)
	}
	var m meta
	switch v := le.Uint32(b[4:8]); {
	case v == 1 && len(b) == metaV1Size:
		if le.Uint32(b[28:32]) != crc32c(b[:28]) {
			return meta{}, fmt.Errorf("%w: checksum mismatch", errBadMeta)
		}
		m = meta{version: 1, lastSeq: le.Uint64(b[8:16]), floor: le.Uint64(b[16:24])}
	case v == metaVersion && len(b) == metaSize:
		if le.Uint32(b[92:96]) != crc32c(b[:92]) {
			return meta{}, fmt.Errorf("%w: checksum mismatch", errBadMeta)
		}
		f := make([]uint64, 10)
		for i := range f {
			f[i] = le.Uint64(b[8+8*i:])
		}
		m = meta{version: metaVersion, lastSeq: f[0], floor: f[1], loss: lossCounters{full: f[2], write: f[3], corrupt: f[4], results: f[5],
			first: int64(f[6]), last: int64(f[7])}, reported: f[8], accounted: f[9]}
	case v == 1 || v == metaVersion:
		return meta{}, fmt.Errorf("%w: %d bytes for version %d", errBadMeta, len(b), v)
	default:
		return meta{}, fmt.Errorf("%w: unknown version %d", errBadMeta, v)
	}
	if m.floor > m.lastSeq {
		return meta{}, fmt.Errorf("%w: floor %d above last seq %d", errBadMeta, m.floor, m.lastSeq)
	}
	if m.reported > m.loss.batches() || m.accounted > m.lastSeq {
		return meta{}, fmt.Errorf("%w: loss accounting out of range", errBadMeta)
	}
	return m, nil
}

// readMeta returns the stored meta; found is false when there is no file.
func readMeta(dir string) (m meta, found bool, err error) {
	// Shared for delete: a reader (agent status) must not make the
	// service's rename over the meta file fail on Windows.
	f, err := sharedfile.Open(filepath.Join(dir, metaName))
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, fmt.Errorf("spool: read meta: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, metaSize+1)) // a huge stray file is not read whole
	if err != nil {
		return meta{}, false, fmt.Errorf("spool: read meta: %w", err)
	}
	m, err = decodeMeta(b)
	return m, true, err
}

// writeMeta replaces the meta file atomically, and durably unless !durable.
func writeMeta(dir string, m meta, durable bool) error {
	tmp := filepath.Join(dir, metaTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: write meta: %w", err)
	}
	_, werr := f.Write(m.encode())
	if werr == nil && durable {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("spool: write meta: %w", werr)
	}
	if err := os.Rename(tmp, filepath.Join(dir, metaName)); err != nil {
		return fmt.Errorf("spool: replace meta: %w", err)
	}
	if !durable {
		return nil
	}
	return syncDir(dir)
}

// syncDir makes renames, creations and removals in dir durable. Windows
// cannot fsync a directory handle opened by package os; there it is a
// no-op.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: sync dir: %w", err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("spool: sync dir: %w", serr)
	}
	if cerr != nil {
		return fmt.Errorf("spool: sync dir: %w", cerr)
	}
	return nil
}
