package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// A data directory an earlier version wrote (raft.db) keeps its BoltDB log
// and stable store; a new one gets the write-ahead log, which keeps what
// was stored across a reopen and never creates raft.db.
func TestOpenLogStoreKeepsExistingBoltLog(t *testing.T) {
	hlog := hclog.NewNullLogger()
	old := t.TempDir()
	bolt, err := raftboltdb.NewBoltStore(filepath.Join(old, boltLog))
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.StoreLog(&raft.Log{Index: 1, Term: 3, Type: raft.LogCommand, Data: []byte("entry")}); err != nil {
		t.Fatal(err)
	}
	if err := bolt.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	bolt.Close()

	ls, err := openLogStore(old, hlog)
	if err != nil {
		t.Fatal(err)
	}
	if ls.kind != "boltdb" {
		t.Fatalf("existing raft.db opened as %s", ls.kind)
	}
	var l raft.Log
	if err := ls.logs.GetLog(1, &l); err != nil || string(l.Data) != "entry" {
		t.Fatalf("existing entry: %v %q", err, l.Data)
	}
	if term, err := ls.stable.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
		t.Fatalf("existing term %d %v", term, err)
	}
	ls.close()
	if _, err := os.Stat(filepath.Join(old, walDir)); err == nil {
		t.Fatal("a write-ahead log was created next to the existing raft.db")
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
	if _, err := os.Stat(filepath.Join(fresh, boltLog)); err == nil {
		t.Fatal("a new data dir got raft.db")
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
