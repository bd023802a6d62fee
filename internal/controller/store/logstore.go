package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// The raft log and stable store. A new data directory gets a write-ahead
// log (hashicorp/raft-wal, in walDir): appending an entry is one write and
// one fsync into a segment file. A directory an earlier version created
// holds boltLog (BoltDB) and keeps using it, so existing nodes start on
// their data as it is. Under full ingest the BoltDB log cost several times
// the CPU per entry (copy-on-write B+tree pages, overflow pages for the
// large group-commit entries, two fsyncs, page faults on its mmap): about a
// sixth of each node's CPU in mxbench. Both keep every stored entry across
// a crash (fsync before StoreLogs returns).
const (
	boltLog = "raft.db"
	walDir  = "wal"
)

// logStore is an open raft log and stable store.
type logStore struct {
	logs   raft.LogStore
	stable raft.StableStore
	close  func() error
	kind   string // "wal" or "boltdb"
}

// openLogStore opens dataDir's log store: BoltDB when the directory has
// one (or on Windows), otherwise the write-ahead log (created if need be).
func openLogStore(dataDir string, hlog hclog.Logger) (logStore, error) {
	boltPath := filepath.Join(dataDir, boltLog)
	_, err := os.Stat(boltPath)
	switch {
	case err == nil || runtime.GOOS == "windows":
		// raft-wal fsyncs its directory, which Windows refuses
		// (FlushFileBuffers on a directory handle: access denied), so a
		// store opened on Windows (the agents' tests run a controller
		// store under Wine) keeps BoltDB.
		bolt, err := raftboltdb.NewBoltStore(boltPath)
		if err != nil {
			return logStore{}, fmt.Errorf("store: open log store %s: %w", boltPath, err)
		}
		return logStore{logs: bolt, stable: bolt, close: bolt.Close, kind: "boltdb"}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return logStore{}, fmt.Errorf("store: log store: %w", err)
	}
	dir := filepath.Join(dataDir, walDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return logStore{}, fmt.Errorf("store: log store: %w", err)
	}
	// Our own meta store: WAL.Close leaves the default one (a BoltDB
	// file holding the stable store and the segment list) open, and its
	// file lock would stop this process from opening the directory again.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithLogger(hlog.Named("wal")), wal.WithMetaStore(meta))
	if err != nil {
		return logStore{}, errors.Join(fmt.Errorf("store: open log store %s: %w", dir, err), meta.Close())
	}
	return logStore{logs: w, stable: w, close: func() error { return errors.Join(w.Close(), meta.Close()) }, kind: "wal"}, nil
}
