package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/stream"
)

func pipelinedBatch(seq uint64) *mxv1.ConnectRequest {
	return &mxv1.ConnectRequest{Msg: &mxv1.ConnectRequest_Batch{Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{{Check: "smtp_probe",
		Target: "smtp://mx.contoso.com:25", Status: mxv1.CheckStatus_CHECK_STATUS_OK}}}}}
}

// sendAll sends batches from..to without waiting, then reads acks until
// to is acknowledged: they must come in sequence order, each covering its
// sequence and everything below (one ack may answer several batches).
func sendAll(t *testing.T, st mxv1.AgentService_ConnectClient, from, to uint64) {
	t.Helper()
	sendErr := make(chan error, 1)
	go func() {
		for seq := from; seq <= to; seq++ {
			if err := st.Send(pipelinedBatch(seq)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	acked := from - 1
	for acked < to {
		m, err := st.Recv()
		if err != nil {
			t.Fatalf("waiting for ack %d: %v", acked+1, err)
		}
		if seq := m.GetAck().GetSeq(); seq <= acked || seq > to {
			t.Fatalf("answer %v after ack %d: want an Ack of %d..%d (acks in sequence order)", m, acked, acked+1, to)
		}
		acked = m.GetAck().GetSeq()
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
}

// A stream may hold many batches in flight (more than the server's
// MaxInFlight: the rest wait in flow control); each is acknowledged, in
// order, after it is committed. Resending acknowledged batches on a new
// stream is acknowledged again and applied once.
func TestStreamPipelinedAcksInOrderAndIdempotentResend(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.GRPCAddr())
	st, _ := connect(t, c, "edge07")
	sendAll(t, st, 1, 40)
	a := n.Store().State().Agent("edge07")
	if a.GetLastSeq() != 40 || a.GetBatchesCommitted() != 40 || a.GetResultsCommitted() != 40 {
		t.Fatalf("after 40 acks: last seq %d, %d batches, %d results committed", a.GetLastSeq(), a.GetBatchesCommitted(), a.GetResultsCommitted())
	}
	_ = st.CloseSend()

	st2, w := connect(t, c, "edge07")
	if w.GetLastCommittedSeq() != 40 {
		t.Fatalf("welcome: last committed %d, want 40", w.GetLastCommittedSeq())
	}
	// 31..40 again (a resend from a spool that had not seen their acks), then 41..50.
	sendAll(t, st2, 31, 50)
	a = n.Store().State().Agent("edge07")
	if a.GetLastSeq() != 50 || a.GetBatchesCommitted() != 50 {
		t.Fatalf("after the resend: last seq %d, %d batches committed, want 50 and 50 (replays not applied)", a.GetLastSeq(), a.GetBatchesCommitted())
	}
}

// An agent streaming with batches in flight while leadership moves loses
// nothing and applies nothing twice: every batch is committed exactly once
// (batches committed = last sequence) on every node, whatever the old
// leader had in flight when it stepped down.
func TestPipelinedAgentAcrossLeaderChangeLosesNothing(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := leader(t, nodes)
	const total = 300
	out := stream.NewMemOutbox(total, 0)
	for seq := uint64(1); seq <= total; seq++ {
		if err := out.Append(pipelinedBatch(seq).GetBatch()); err != nil {
			t.Fatal(err)
		}
	}
	var addrs []string
	for _, tn := range nodes {
		addrs = append(addrs, tn.n.GRPCAddr())
	}
	client, err := stream.NewClient(stream.Config{Controllers: addrs, Hello: &mxv1.Hello{AgentId: "edge08", Site: "amsterdam"}, Outbox: out,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, InFlight: 8, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = client.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitUntil(t, 60*time.Second, "the first 50 acks", func() bool { return client.Acked() >= 50 })
	if err := l.n.Store().TransferLeadership(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 120*time.Second, "every batch acknowledged", func() bool { return client.Acked() == total })
	for _, tn := range nodes {
		waitUntil(t, 30*time.Second, tn.cfg.NodeID+" applied every batch", func() bool {
			return tn.n.Store().State().Agent("edge08").GetLastSeq() == total
		})
		if a := tn.n.Store().State().Agent("edge08"); a.GetBatchesCommitted() != total {
			t.Fatalf("%s: %d batches committed for last seq %d: a batch was lost or applied twice", tn.cfg.NodeID, a.GetBatchesCommitted(), a.GetLastSeq())
		}
	}
	if l2 := leader(t, nodes); l2 == l {
		t.Fatal("leadership did not move")
	}
}
