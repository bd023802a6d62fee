package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/hashicorp/raft-wal/metadb"
)

// raftStableKeys are the keys hashicorp/raft keeps in its stable store.
var raftStableKeys = []string{"CurrentTerm", "LastVoteTerm", "LastVoteCand"}

// writeBoltLog makes dir/raft.db as an earlier version left it: entries
// first..last (a compacted log does not start at 1; some entries are
// larger than a migration batch) and the stable keys.
func writeBoltLog(t *testing.T, dir string, first, last uint64) []*raft.Log {
	t.Helper()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, boltLog))
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	var logs []*raft.Log
	for i := first; i <= last; i++ {
		size := 100 + int(i%7)*50
		if i%97 == 0 {
			size = migrateBatchBytes + 1
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(int(i) + j)
		}
		l := &raft.Log{Index: i, Term: 2 + i/100, Type: raft.LogCommand, Data: data, AppendedAt: time.Unix(1700000000+int64(i), 0).UTC()}
		if i%50 == 0 {
			l.Type, l.Extensions = raft.LogConfiguration, []byte("ext")
		}
		logs = append(logs, l)
	}
	if err := bolt.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for i, k := range raftStableKeys[:2] {
		if err := bolt.SetUint64([]byte(k), uint64(7+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := bolt.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	return logs
}

// checkLogStore requires ls to hold exactly want and writeBoltLog's stable keys.
func checkLogStore(t *testing.T, ls logStore, want []*raft.Log) {
	t.Helper()
	first, _ := ls.logs.FirstIndex()
	last, _ := ls.logs.LastIndex()
	if first != want[0].Index || last != want[len(want)-1].Index {
		t.Fatalf("log holds %d-%d, want %d-%d", first, last, want[0].Index, want[len(want)-1].Index)
	}
	for _, w := range want {
		var got raft.Log
		if err := ls.logs.GetLog(w.Index, &got); err != nil {
			t.Fatalf("entry %d: %v", w.Index, err)
		}
		if got.Term != w.Term || got.Type != w.Type || !bytes.Equal(got.Data, w.Data) || !bytes.Equal(got.Extensions, w.Extensions) || !got.AppendedAt.Equal(w.AppendedAt) {
			t.Fatalf("entry %d: term %d type %v data %d bytes ext %q at %v, want term %d type %v data %d bytes ext %q at %v",
				w.Index, got.Term, got.Type, len(got.Data), got.Extensions, got.AppendedAt, w.Term, w.Type, len(w.Data), w.Extensions, w.AppendedAt)
		}
	}
	for i, k := range raftStableKeys[:2] {
		if v, err := ls.stable.GetUint64([]byte(k)); err != nil || v != uint64(7+i) {
			t.Fatalf("stable %s = %d %v, want %d", k, v, err, 7+i)
		}
	}
	if v, err := ls.stable.Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
		t.Fatalf("stable LastVoteCand = %q %v", v, err)
	}
}

// skipOnWindows: the store keeps BoltDB there (logstore.go).
func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the store keeps BoltDB on Windows")
	}
}

// noMigrationLeft requires dir to hold no raft.db and no step of a
// migration.
func noMigrationLeft(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{boltLog, boltMigrated, walMigrating} {
		if exists(t, filepath.Join(dir, name)) {
			t.Fatalf("%s left after the migration", name)
		}
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// A data directory an earlier version wrote (raft.db) is migrated into the
// write-ahead log on open: every entry and stable key is there, raft.db is
// gone, and a reopen finds the same. A new directory gets the write-ahead
// log, which keeps what was stored across a reopen and never creates
// raft.db.
func TestOpenLogStoreMigratesBoltLog(t *testing.T) {
	skipOnWindows(t)
	hlog := hclog.NewNullLogger()
	old := t.TempDir()
	want := writeBoltLog(t, old, 5, 300)
	for round := range 2 {
		ls, err := openLogStore(old, hlog)
		if err != nil {
			t.Fatal(err)
		}
		if ls.kind != "wal" {
			t.Fatalf("open %d of a BoltDB directory gave %s", round, ls.kind)
		}
		checkLogStore(t, ls, want)
		if err := ls.close(); err != nil {
			t.Fatal(err)
		}
		noMigrationLeft(t, old)
	}

	fresh := t.TempDir()
	for round := range 2 {
		ls, err := openLogStore(fresh, hlog)
		if err != nil {
			t.Fatal(err)
		}
		if ls.kind != "wal" {
			t.Fatalf("new data dir opened as %s", ls.kind)
		}
		if round == 0 {
			if err := ls.logs.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("a")}, {Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("b")}}); err != nil {
				t.Fatal(err)
			}
			if err := ls.stable.SetUint64([]byte("CurrentTerm"), 1); err != nil {
				t.Fatal(err)
			}
		} else {
			var l raft.Log
			if err := ls.logs.GetLog(2, &l); err != nil || string(l.Data) != "b" {
				t.Fatalf("entry after reopen: %v %q", err, l.Data)
			}
			if last, _ := ls.logs.LastIndex(); last != 2 {
				t.Fatalf("last index after reopen %d", last)
			}
			if term, err := ls.stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 1 {
				t.Fatalf("term after reopen %d %v", term, err)
			}
		}
		if err := ls.close(); err != nil {
			t.Fatal(err)
		}
	}
	if exists(t, filepath.Join(fresh, boltLog)) {
		t.Fatal("a new data dir got raft.db")
	}
}

// A migration stopped at any step (the process killed) is redone or
// finished by the next open, never loses an entry, and never opens an
// empty log in place of one; a directory with both raft.db and wal/ is
// refused.
func TestOpenLogStoreResumesInterruptedMigration(t *testing.T) {
	skipOnWindows(t)
	hlog := hclog.NewNullLogger()
	// A migrated copy of the log, to lay out the states between the steps.
	src := t.TempDir()
	want := writeBoltLog(t, src, 1, 120)
	bolt, err := os.ReadFile(filepath.Join(src, boltLog))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrateBoltLog(src, hlog); err != nil {
		t.Fatal(err)
	}
	copyWAL := func(t *testing.T, to string) {
		t.Helper()
		if err := os.CopyFS(to, os.DirFS(filepath.Join(src, walDir))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		lay     func(t *testing.T, dir string)
		wantErr error
	}{
		{"copy unfinished (step 1)", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, boltLog), bolt, 0o600))
			must(t, os.MkdirAll(filepath.Join(dir, walMigrating), 0o700))
			must(t, os.WriteFile(filepath.Join(dir, walMigrating, "00000000000000000001-0000000000000001.wal"), []byte("torn"), 0o600))
		}, nil},
		{"raft.db renamed (step 2)", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, boltMigrated), bolt, 0o600))
			copyWAL(t, filepath.Join(dir, walMigrating))
		}, nil},
		{"copy renamed (step 3)", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, boltMigrated), bolt, 0o600))
			copyWAL(t, filepath.Join(dir, walDir))
		}, nil},
		{"raft.db.migrated alone", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, boltMigrated), bolt, 0o600))
		}, errAny},
		{"raft.db next to wal/ (an older version ran)", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, boltLog), bolt, 0o600))
			copyWAL(t, filepath.Join(dir, walDir))
		}, ErrTwoLogStores},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.lay(t, dir)
			ls, err := openLogStore(dir, hlog)
			if c.wantErr != nil {
				if err == nil {
					ls.close()
					t.Fatal("opened")
				}
				if c.wantErr != errAny && !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if exists(t, filepath.Join(dir, walDir, metadb.FileName)) && c.wantErr == errAny {
					t.Fatal("an empty log was created in place of the migrated one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ls.close()
			checkLogStore(t, ls, want)
			noMigrationLeft(t, dir)
		})
	}
}

var errAny = errors.New("any error")

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLogStore appends group-commit-sized entries (450 KiB, about
// 1,400 of mxbench's results) to each log store with fsync on, and
// reports the CPU per entry (user + system: page cache, file system and
// fsync work included).
func BenchmarkLogStore(b *testing.B) {
	data := make([]byte, 450<<10)
	for i := range data {
		data[i] = byte(i)
	}
	for _, kind := range []string{"boltdb", "wal"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			if kind == "boltdb" {
				bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, boltLog))
				if err != nil {
					b.Fatal(err)
				}
				bolt.Close()
			}
			ls, err := openLogStore(dir, hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer ls.close()
			if ls.kind != kind {
				b.Fatalf("opened %s, want %s", ls.kind, kind)
			}
			idx := uint64(0)
			start := cpuNow()
			for b.Loop() {
				idx++
				if err := ls.logs.StoreLogs([]*raft.Log{{Index: idx, Term: 1, Type: raft.LogCommand, Data: data}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuNow()-start)/float64(b.N)/1e6, "cpu-ms/entry")
		})
	}
}

// A node whose data directory an earlier version wrote (raft.db: a
// snapshot and entries after it) starts on this version with its state:
// the snapshot and the entries after it, now read from the migrated log,
// and it goes on committing.
func TestStoreStartsOnMigratedBoltDataDir(t *testing.T) {
	skipOnWindows(t)
	dir, addr := t.TempDir(), freePort(t)
	s := openTestStore(t, dir, addr)
	ctx := context.Background()
	for i := uint64(1); i <= 5; i++ {
		if _, err := s.Apply(ctx, ingestCmd(batch("a1", i, "CERT_EXPIRING"))); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.Snapshot())
	for i := uint64(6); i <= 9; i++ {
		if _, err := s.Apply(ctx, ingestCmd(batch("a1", i, "CERT_EXPIRED"))); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.Close())

	// Rewrite the directory as an earlier version left it: the same log
	// and stable store in raft.db, no wal/.
	w, err := openWAL(filepath.Join(dir, walDir), hclog.NewNullLogger())
	must(t, err)
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(dir, boltLog))
	must(t, err)
	n, err := copyLogStore(w.logs, w.stable, bolt, bolt)
	must(t, err)
	if n < 4 {
		t.Fatalf("the log held %d entries, want the 4 after the snapshot at least", n)
	}
	must(t, bolt.Close())
	must(t, w.close())
	must(t, os.RemoveAll(filepath.Join(dir, walDir)))

	s2 := openTestStore(t, dir, addr)
	defer s2.Close()
	if exists(t, filepath.Join(dir, boltLog)) || !exists(t, filepath.Join(dir, walDir)) {
		t.Fatal("the start did not move the log from raft.db to wal/")
	}
	if _, err := s2.Apply(ctx, ingestCmd(batch("a1", 10, "CERT_NO_PRIVATE_KEY"))); err != nil {
		t.Fatal(err)
	}
	if got := s2.State().Agent("a1").GetLastSeq(); got != 10 {
		t.Fatalf("a1 last seq after the migrated start = %d, want 10", got)
	}
	if got := s2.State().Agent("a1").GetResultsCommitted(); got != 10 {
		t.Fatalf("a1 results = %d, want 10 (the snapshot's 5, the log's 4, the new 1)", got)
	}
}
