package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// The raft log and stable store: a write-ahead log (hashicorp/raft-wal, in
// walDir): appending an entry is one write and one fsync into a segment
// file. A directory an earlier version created holds boltLog (BoltDB); it
// is migrated into walDir when the node opens it (logstore_migrate.go).
// Under full ingest the BoltDB log cost several times the CPU per entry
// (copy-on-write B+tree pages, overflow pages for the large group-commit
// entries, two fsyncs, page faults on its mmap): about a sixth of each
// node's CPU in mxbench. Both keep every stored entry across a crash (fsync
// before StoreLogs returns). On Windows the store keeps BoltDB: raft-wal
// fsyncs its directory, which Windows refuses (FlushFileBuffers on a
// directory handle: access denied); the agents' tests run a controller
// store under Wine.
const (
	boltLog = "raft.db"
	walDir  = "wal"
)

// ErrTwoLogStores: the data directory holds both raft.db and wal/, so an
// older version (which reads only raft.db) ran on a directory this version
// had migrated. Neither log is known to hold every entry and vote this node
// acknowledged; the node must be emptied and rejoin.
var ErrTwoLogStores = errors.New("store: data directory holds both raft.db and wal/ (an older version ran on a migrated directory): empty the data directory and let the node rejoin")

// logStore is an open raft log and stable store.
type logStore struct {
	logs   raft.LogStore
	stable raft.StableStore
	close  func() error
	kind   string // "wal" or "boltdb"
}

// openLogStore opens dataDir's log store: the write-ahead log (created if
// need be, migrated from raft.db if the directory has one), or BoltDB on
// Windows.
func openLogStore(dataDir string, hlog hclog.Logger) (logStore, error) {
	boltPath := filepath.Join(dataDir, boltLog)
	if runtime.GOOS == "windows" {
		bolt, err := raftboltdb.NewBoltStore(boltPath)
		if err != nil {
			return logStore{}, fmt.Errorf("store: open log store %s: %w", boltPath, err)
		}
		return logStore{logs: bolt, stable: bolt, close: bolt.Close, kind: "boltdb"}, nil
	}
	exists := func(name string) (bool, error) {
		_, err := os.Stat(filepath.Join(dataDir, name))
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return err == nil, nil
		}
		return false, fmt.Errorf("store: log store: %w", err)
	}
	var has [4]bool
	for i, name := range []string{boltLog, walDir, walMigrating, boltMigrated} {
		ok, err := exists(name)
		if err != nil {
			return logStore{}, err
		}
		has[i] = ok
	}
	hasBolt, hasWAL, hasCopy, hasMigrated := has[0], has[1], has[2], has[3]
	switch {
	case hasBolt && hasWAL:
		return logStore{}, ErrTwoLogStores
	case hasMigrated:
		// A migration stopped after raft.db was renamed: the copy is
		// complete (walMigrating or already walDir).
		if !hasCopy && !hasWAL {
			return logStore{}, fmt.Errorf("store: log store: %s without %s or %s: the migrated log is missing", boltMigrated, walMigrating, walDir)
		}
		if err := finishMigration(dataDir); err != nil {
			return logStore{}, err
		}
	case hasBolt:
		start := time.Now()
		n, err := migrateBoltLog(dataDir, hlog)
		if err != nil {
			return logStore{}, err
		}
		hlog.Info("migrated the raft log from BoltDB (raft.db) to the write-ahead log (wal/)", "entries", n, "took", time.Since(start).Round(time.Millisecond))
	}
	dir := filepath.Join(dataDir, walDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return logStore{}, fmt.Errorf("store: log store: %w", err)
	}
	return openWAL(dir, hlog)
}

// openWAL opens (or creates) the write-ahead log in dir.
func openWAL(dir string, hlog hclog.Logger) (logStore, error) {
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
