package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Migrating a BoltDB log store (raft.db, written by versions before the
// write-ahead log) into walDir, so an upgraded node gets the cheaper log
// without leaving the cluster. The steps are ordered so that a crash at any
// point leaves a directory that the next open completes or redoes
// (resumeMigration):
//
//  1. copy every entry and raft's three stable-store keys (raftStable)
//     into walMigrating, removed first if an earlier attempt left it;
//     closing the copy fsyncs it;
//  2. rename raft.db to boltMigrated: from here the copy is the log;
//  3. rename walMigrating to walDir;
//  4. remove boltMigrated.
//
// The data directory is fsynced after each rename. raft.db is not kept as
// a backup: the node goes on appending and voting in the WAL, so an old
// raft.db put back would be a log that forgot entries and votes this node
// acknowledged, which raft's safety forbids. For the same reason a
// directory holding both raft.db and walDir (an older version started on
// a migrated directory and wrote a new raft.db) is refused: neither log is
// known to hold everything. Downgrading a node means emptying its data
// directory and letting it rejoin (docs/operations.md).
const (
	walMigrating = "wal.migrating"
	boltMigrated = "raft.db.migrated"
	// migrateBatchBytes bounds the entries copied per StoreLogs call
	// (memory: one batch at a time; group-commit entries are ~450 KiB).
	migrateBatchBytes = 16 << 20
	migrateBatchLogs  = 1024
)

// raftStable lists the keys hashicorp/raft keeps in its stable store
// (raft.go: keyCurrentTerm, keyLastVoteTerm, keyLastVoteCand) and whether
// raft reads each with GetUint64. They are copied by name and type, not as
// bytes: BoltStore writes a uint64 big-endian, the WAL little-endian.
var raftStable = []struct {
	key    string
	uint64 bool
}{{"CurrentTerm", true}, {"LastVoteTerm", true}, {"LastVoteCand", false}}

// migrateBoltLog copies dataDir's raft.db into a new walDir and removes
// raft.db. It returns the number of entries copied.
func migrateBoltLog(dataDir string, hlog hclog.Logger) (int, error) {
	boltPath := filepath.Join(dataDir, boltLog)
	tmp := filepath.Join(dataDir, walMigrating)
	if err := os.RemoveAll(tmp); err != nil {
		return 0, fmt.Errorf("store: migrate log store: remove unfinished %s: %w", tmp, err)
	}
	src, err := raftboltdb.NewBoltStore(boltPath)
	if err != nil {
		return 0, fmt.Errorf("store: migrate log store: open %s: %w", boltPath, err)
	}
	n, err := func() (int, error) {
		defer src.Close()
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			return 0, fmt.Errorf("store: migrate log store: %w", err)
		}
		dst, err := openWAL(tmp, hlog)
		if err != nil {
			return 0, err
		}
		n, err := copyLogStore(src, src, dst.logs, dst.stable)
		return n, errors.Join(err, dst.close())
	}()
	if err != nil {
		return 0, fmt.Errorf("store: migrate log store %s: %w", boltPath, err)
	}
	if err := renameSynced(dataDir, boltLog, boltMigrated); err != nil {
		return 0, fmt.Errorf("store: migrate log store: %w", err)
	}
	return n, finishMigration(dataDir)
}

// finishMigration does steps 3 and 4 once raft.db is boltMigrated.
func finishMigration(dataDir string) error {
	if _, err := os.Stat(filepath.Join(dataDir, walMigrating)); err == nil {
		if err := renameSynced(dataDir, walMigrating, walDir); err != nil {
			return fmt.Errorf("store: migrate log store: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dataDir, boltMigrated)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: migrate log store: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return fmt.Errorf("store: migrate log store: %w", err)
	}
	return nil
}

// renameSynced renames dir/from to dir/to and fsyncs dir.
func renameSynced(dir, from, to string) error {
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		return err
	}
	return syncDir(dir)
}

// copyLogStore copies src's entries (FirstIndex..LastIndex, in batches)
// and raft's stable keys into dst.
func copyLogStore(src raft.LogStore, srcStable raft.StableStore, dst raft.LogStore, dstStable raft.StableStore) (int, error) {
	for _, k := range raftStable {
		key := []byte(k.key)
		if k.uint64 {
			v, err := srcStable.GetUint64(key)
			if err != nil && !isNotFound(err) {
				return 0, fmt.Errorf("stable key %s: %w", k.key, err)
			}
			if err == nil {
				if err := dstStable.SetUint64(key, v); err != nil {
					return 0, fmt.Errorf("stable key %s: %w", k.key, err)
				}
			}
			continue
		}
		v, err := srcStable.Get(key)
		if err != nil && !isNotFound(err) {
			return 0, fmt.Errorf("stable key %s: %w", k.key, err)
		}
		if err == nil && v != nil {
			if err := dstStable.Set(key, v); err != nil {
				return 0, fmt.Errorf("stable key %s: %w", k.key, err)
			}
		}
	}
	first, err := src.FirstIndex()
	if err != nil {
		return 0, fmt.Errorf("first index: %w", err)
	}
	last, err := src.LastIndex()
	if err != nil {
		return 0, fmt.Errorf("last index: %w", err)
	}
	if last == 0 {
		return 0, nil
	}
	var batch []*raft.Log
	size, n := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.StoreLogs(batch); err != nil {
			return fmt.Errorf("store entries %d-%d: %w", batch[0].Index, batch[len(batch)-1].Index, err)
		}
		n += len(batch)
		batch, size = batch[:0], 0
		return nil
	}
	for i := first; i <= last; i++ {
		l := new(raft.Log)
		if err := src.GetLog(i, l); err != nil {
			return n, fmt.Errorf("entry %d of %d-%d: %w", i, first, last, err)
		}
		batch = append(batch, l)
		size += len(l.Data) + len(l.Extensions)
		if size >= migrateBatchBytes || len(batch) >= migrateBatchLogs {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// isNotFound: a stable store without the key (BoltStore says "not found",
// raft checks the message the same way: raft.go's "not found" test).
func isNotFound(err error) bool {
	return err != nil && err.Error() == "not found"
}

// syncDir fsyncs a directory so renames and removals in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
