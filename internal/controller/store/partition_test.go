package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// inmemCluster is three real raft nodes over raft's in-memory transport,
// which can be partitioned.
type inmemCluster struct {
	stores     []*Store
	transports []*raft.InmemTransport
}

func newInmemCluster(t *testing.T, n int, opts ...func(*Config)) *inmemCluster {
	t.Helper()
	c := &inmemCluster{}
	var servers []raft.Server
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("n%d", i)))
		c.transports = append(c.transports, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i)), Address: addr})
	}
	for i := range c.transports {
		for j := range c.transports {
			if i != j {
				c.transports[i].Connect(c.transports[j].LocalAddr(), c.transports[j])
			}
		}
	}
	for i, tr := range c.transports {
		cfg := Config{
			NodeID: fmt.Sprintf("n%d", i), DataDir: t.TempDir(), RaftBind: "n", RaftAdvertise: "127.0.0.1:1",
			Transport: tr, InmemStore: true, Logger: quietLog(),
			HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
		}
		for _, o := range opts {
			o(&cfg)
		}
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.stores = append(c.stores, s)
	}
	if err := c.stores[0].BootstrapWith(servers); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range c.stores {
			s.Close()
		}
	})
	return c
}

func (c *inmemCluster) leader(t *testing.T, except int) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a failure bound: elections on a loaded machine
	for time.Now().Before(deadline) {
		for i, s := range c.stores {
			if i != except && s.LeaderReady() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader")
	return -1
}

// isolate cuts node i off from every other node (both directions).
func (c *inmemCluster) isolate(i int) {
	c.transports[i].DisconnectAll()
	for j, tr := range c.transports {
		if j != i {
			tr.Disconnect(c.transports[i].LocalAddr())
		}
	}
}

func (c *inmemCluster) heal() {
	for i := range c.transports {
		for j := range c.transports {
			if i != j {
				c.transports[i].Connect(c.transports[j].LocalAddr(), c.transports[j])
			}
		}
	}
}

// ingestOne applies one single-result batch with a unique target; true when
// the batch was committed (what ingest would acknowledge).
func ingestOne(s *Store, agent string, seq uint64) bool { return ingestOneErr(s, agent, seq) == nil }

func ingestOneErr(s *Store, agent string, seq uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cmd := ingestCmd(&mxv1.AgentBatch{AgentId: agent, Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{
		Check: "smtp_probe", Target: fmt.Sprintf("smtp://t%d:25", seq), Status: mxv1.CheckStatus_CHECK_STATUS_OK}}}})
	_, err := s.Apply(ctx, cmd)
	return err
}

// TestPartitionedLeaderNeverAcks: the leader is isolated mid-ingest. What
// it accepts while cut off must not commit (no ack); the majority elects a
// new leader and ingest continues there; after healing, every node holds
// every acknowledged result exactly once and the nodes agree.
func TestPartitionedLeaderNeverAcks(t *testing.T) {
	c := newInmemCluster(t, 3)
	l := c.leader(t, -1)
	acked := map[uint64]bool{}
	seq := uint64(0)
	for range 50 {
		seq++
		if ingestOne(c.stores[l], "edge01", seq) {
			acked[seq] = true
		}
	}
	c.isolate(l)
	minorityAcks := 0
	for range 20 {
		seq++
		if ingestOne(c.stores[l], "edge01", seq) {
			minorityAcks++
			acked[seq] = true
		}
	}
	if minorityAcks != 0 {
		t.Fatalf("isolated leader acknowledged %d batches", minorityAcks)
	}
	// The agent replays the unacknowledged batches to the majority's
	// leader, then continues. Like an agent it sends a batch again when it
	// is not acknowledged (the 300 ms wait ended, or leadership moved
	// between the two: 100 ms raft timeouts on a loaded machine); every
	// batch must be accepted in the end.
	for s := uint64(1); s <= seq+30; s++ {
		if acked[s] {
			continue
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := ingestOneErr(c.stores[c.leader(t, l)], "edge01", s)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the majority never accepted batch %d: %v", s, err)
			}
		}
		acked[s] = true
	}
	c.heal()
	want := len(acked)
	// A failure bound, not a timing assertion: the healed node catches up
	// through elections with 100 ms timeouts, which under the race
	// detector on a loaded machine took more than 10 s once (92 of 100).
	deadline := time.Now().Add(2 * time.Minute)
	var snaps [][]byte
	for {
		snaps = snaps[:0]
		done := true
		for _, s := range c.stores {
			a := s.State().Agent("edge01")
			if a.GetResultsCommitted() != uint64(want) {
				done = false
			}
			b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(s.State().snapshot())
			snaps = append(snaps, b)
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range c.stores {
		a := s.State().Agent("edge01")
		if a.GetResultsCommitted() != uint64(want) {
			t.Fatalf("node %d committed %d results, want exactly %d (acked)", i, a.GetResultsCommitted(), want)
		}
		if string(snaps[i]) != string(snaps[0]) {
			t.Fatalf("node %d diverged from node 0 after healing", i)
		}
	}
	// Every acked batch's distinct result is in the state.
	targets := map[string]bool{}
	for _, r := range c.stores[0].State().snapshot().GetResults() {
		targets[r.GetResult().GetTarget()] = true
	}
	for sq := range acked {
		if !targets[fmt.Sprintf("smtp://t%d:25", sq)] {
			t.Fatalf("acked batch %d missing from the state", sq)
		}
	}
	if len(targets) != want {
		t.Fatalf("%d results in state, want %d", len(targets), want)
	}
}
