package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// The meta file records what cannot be derived from the segments once they
// are deleted. Layout (32 bytes, little endian):
//
//	off size field
//	  0    4 magic "MXSM"
//	  4    4 version (metaVersion)
//	  8    8 lastSeq: highest seq ever appended or acknowledged
//	 16    8 floor: every batch with seq <= floor is acknowledged or dropped
//	 24    4 reserved (0)
//	 28    4 CRC32-C of bytes [0,28)
//
// It is replaced atomically: written to meta.tmp, fsynced, renamed over
// meta, and the directory fsynced (except on Windows, where directories
// cannot be fsynced through package os; NTFS journals the rename).
const (
	metaName    = "meta"
	metaTmpName = "meta.tmp"
	metaSize    = 32
	metaVersion = 1
)

var metaMagic = [4]byte{'M', 'X', 'S', 'M'}

// errBadMeta: the meta file exists but cannot be trusted.
var errBadMeta = errors.New("spool: corrupt meta file")

type meta struct {
	lastSeq uint64
	floor   uint64
}

func (m meta) encode() []byte {
	b := make([]byte, metaSize)
	copy(b[0:4], metaMagic[:])
	binary.LittleEndian.PutUint32(b[4:8], metaVersion)
	binary.LittleEndian.PutUint64(b[8:16], m.lastSeq)
	binary.LittleEndian.PutUint64(b[16:24], m.floor)
	binary.LittleEndian.PutUint32(b[28:32], crc32c(b[:28]))
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaSize {
		return meta{}, fmt.Errorf("%w: %d bytes", errBadMeta, len(b))
	}
	if [4]byte(b[0:4]) != metaMagic {
		return meta{}, fmt.Errorf("%w: bad magic", errBadMeta)
	}
	if binary.LittleEndian.Uint32(b[28:32]) != crc32c(b[:28]) {
		return meta{}, fmt.Errorf("%w: checksum mismatch", errBadMeta)
	}
	if v := binary.LittleEndian.Uint32(b[4:8]); v != metaVersion {
		return meta{}, fmt.Errorf("%w: unknown version %d", errBadMeta, v)
	}
	m := meta{
		lastSeq: binary.LittleEndian.Uint64(b[8:16]),
		floor:   binary.LittleEndian.Uint64(b[16:24]),
	}
	if m.floor > m.lastSeq {
		return meta{}, fmt.Errorf("%w: floor %d above last seq %d", errBadMeta, m.floor, m.lastSeq)
	}
	return m, nil
}

// readMeta returns the stored meta; found is false when there is no file.
func readMeta(dir string) (m meta, found bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, fmt.Errorf("spool: read meta: %w", err)
	}
	m, err = decodeMeta(b)
	return m, true, err
}

// writeMeta replaces the meta file atomically and durably.
func writeMeta(dir string, m meta) error {
	tmp := filepath.Join(dir, metaTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: write meta: %w", err)
	}
	_, werr := f.Write(m.encode())
	if werr == nil {
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
