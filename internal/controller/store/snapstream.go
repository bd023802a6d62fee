package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Raft snapshots are written and read as a stream so that neither side
// holds the whole encoded state next to the decoded one: a magic line,
// then records (uvarint length, bytes), each a StateSnapshot fragment.
// The first fragment holds everything but agents and results; the others
// hold up to snapFragmentItems agents or results. Decoding merges them in
// order (repeated fields append), which rebuilds the snapshot exactly.
// A snapshot without the magic is the older single-message form.
const (
	snapStreamMagic   = "mxprobe-state-stream-1\n"
	snapFragmentItems = 1024
	maxFragmentBytes  = 256 << 20
)

// ErrBadSnapshot: a raft snapshot cannot be decoded.
var ErrBadSnapshot = errors.New("store: bad snapshot")

// writeSnapshot streams snap to w. It clears and restores snap's agents
// and results while encoding the first fragment (snap is the caller's).
func writeSnapshot(w io.Writer, snap *mxv1.StateSnapshot) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(snapStreamMagic); err != nil {
		return err
	}
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	var lenBuf [binary.MaxVarintLen64]byte
	record := func(m *mxv1.StateSnapshot) error {
		var err error
		buf, err = opts.MarshalAppend(buf[:0], m)
		if err != nil {
			return err
		}
		if _, err := bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(buf)))]); err != nil {
			return err
		}
		_, err = bw.Write(buf)
		return err
	}
	agents, results := snap.Agents, snap.Results
	snap.Agents, snap.Results = nil, nil
	err := record(snap)
	snap.Agents, snap.Results = agents, results
	if err != nil {
		return err
	}
	for i := 0; i < len(agents); i += snapFragmentItems {
		if err := record(&mxv1.StateSnapshot{Agents: agents[i:min(i+snapFragmentItems, len(agents))]}); err != nil {
			return err
		}
	}
	for i := 0; i < len(results); i += snapFragmentItems {
		if err := record(&mxv1.StateSnapshot{Results: results[i:min(i+snapFragmentItems, len(results))]}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// readSnapshot decodes a snapshot written by writeSnapshot, or the older
// single-message form, reading at most limit bytes.
func readSnapshot(r io.Reader, limit int64) (*mxv1.StateSnapshot, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, limit), 1<<20)
	snap := &mxv1.StateSnapshot{}
	head, err := br.Peek(len(snapStreamMagic))
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if !bytes.Equal(head, []byte(snapStreamMagic)) {
		b, err := io.ReadAll(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		if err := proto.Unmarshal(b, snap); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		return snap, nil
	}
	if _, err := br.Discard(len(snapStreamMagic)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	opts := proto.UnmarshalOptions{Merge: true}
	var buf []byte
	for {
		n, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return snap, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: fragment length: %w", ErrBadSnapshot, err)
		}
		if n > maxFragmentBytes {
			return nil, fmt.Errorf("%w: fragment of %d bytes", ErrBadSnapshot, n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%w: fragment: %w", ErrBadSnapshot, err)
		}
		if err := opts.Unmarshal(buf, snap); err != nil {
			return nil, fmt.Errorf("%w: fragment: %w", ErrBadSnapshot, err)
		}
	}
}
