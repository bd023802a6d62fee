package spool

import (
	"encoding/binary"
	"hash/crc32"
)

// Record framing. Every record is a fixed 28-byte header followed by the
// payload (a protobuf-encoded mxv1.ResultBatch). All integers are little
// endian.
//
//	off size field
//	  0    4 magic "MXSR"
//	  4    1 version (recordVersion)
//	  5    1 flags (0)
//	  6    2 number of check results in the batch (saturating at 65535;
//	         0 in records written before it was recorded), so a batch
//	         dropped from a full spool is accounted without decoding it
//	  8    8 seq (the batch's Seq, so the index is built without decoding)
//	 16    4 payload length
//	 20    4 CRC32-C of the payload
//	 24    4 CRC32-C of header bytes [0,24)
//
// The header carries its own CRC so a damaged length field is detected
// before it is trusted: a reader never allocates or skips by an unverified
// length.
const (
	recordHeaderSize = 28
	recordVersion    = 1

	// MaxBatchBytes is the largest encoded batch the spool accepts.
	MaxBatchBytes = 64 << 20
)

var recordMagic = [4]byte{'M', 'X', 'S', 'R'}

// castagnoli is read-only after package initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recordHeader is a decoded header.
type recordHeader struct {
	version    uint8
	flags      uint8
	results    uint16
	seq        uint64
	length     uint32
	payloadCRC uint32
}

// encodeRecord returns the framed record for payload, a batch of results
// check results.
func encodeRecord(seq uint64, results int, payload []byte) []byte {
	buf := encodeRecordVersion(recordVersion, seq, payload)
	binary.LittleEndian.PutUint16(buf[6:8], uint16(min(results, 0xffff)))
	binary.LittleEndian.PutUint32(buf[24:28], crc32c(buf[:24]))
	return buf
}

// encodeRecordVersion frames payload with an explicit version (tests use it
// to write records of an unknown version).
func encodeRecordVersion(version uint8, seq uint64, payload []byte) []byte {
	buf := make([]byte, recordHeaderSize+len(payload))
	copy(buf[0:4], recordMagic[:])
	buf[4] = version
	binary.LittleEndian.PutUint64(buf[8:16], seq)
	binary.LittleEndian.PutUint32(buf[16:20], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[20:24], crc32c(payload))
	binary.LittleEndian.PutUint32(buf[24:28], crc32c(buf[:24]))
	copy(buf[recordHeaderSize:], payload)
	return buf
}

// parseHeader checks magic and header CRC and that the length is
// plausible. It does not check the version: a frame of an unknown version
// is still a well-formed frame that can be skipped.
func parseHeader(b []byte) (recordHeader, bool) {
	if len(b) < recordHeaderSize {
		return recordHeader{}, false
	}
	if [4]byte(b[0:4]) != recordMagic {
		return recordHeader{}, false
	}
	if binary.LittleEndian.Uint32(b[24:28]) != crc32c(b[:24]) {
		return recordHeader{}, false
	}
	h := recordHeader{
		version:    b[4],
		flags:      b[5],
		results:    binary.LittleEndian.Uint16(b[6:8]),
		seq:        binary.LittleEndian.Uint64(b[8:16]),
		length:     binary.LittleEndian.Uint32(b[16:20]),
		payloadCRC: binary.LittleEndian.Uint32(b[20:24]),
	}
	if h.length > MaxBatchBytes {
		return recordHeader{}, false
	}
	return h, true
}

// known reports whether this reader understands the record.
func (h recordHeader) known() bool { return h.version == recordVersion && h.flags == 0 }

// size is the whole record's size on disk.
func (h recordHeader) size() int64 { return recordHeaderSize + int64(h.length) }
