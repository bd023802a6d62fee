package store

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A follower keeps an ingested result encoded until something reads it; a
// snapshot reads it without keeping the decoding; concurrent readers all
// get the one message that is then kept.
func TestFollowerDecodesResultsOnFirstRead(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
	raw, err := proto.Marshal(testBatch(1))
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := encodeIngest(at, []EncodedBatch{{AgentID: "edge01", Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fsm{state: newState(), log: quietLog()}
	if res := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data}).(IngestResult); len(res.Applied) != 1 || !res.Applied[0] {
		t.Fatalf("applied %v", res.Applied)
	}
	k := resultKey{"edge01", "smtp_probe", "smtp://mx.contoso.test:25"}
	sr := f.state.results[k]
	if sr == nil || sr.msg != nil || sr.lazy.decoded.Load() != nil {
		t.Fatal("the follower decoded the result on apply")
	}
	snap := f.state.snapshot()
	if len(snap.GetResults()) != 1 || !proto.Equal(snap.GetResults()[0].GetResult(), testBatch(1).GetResults()[0]) {
		t.Fatalf("snapshot results %v", snap.GetResults())
	}
	if sr.lazy.decoded.Load() != nil {
		t.Fatal("a snapshot kept the decoding")
	}
	var wg sync.WaitGroup
	got := make([]any, 8)
	for i := range got {
		wg.Go(func() {
			if i%2 == 0 {
				got[i] = f.state.CorrelationView().Results[0]
			} else {
				rs, _ := f.state.Results(ResultFilter{}, ResultKey{}, 10)
				got[i] = rs[0].GetResult()
			}
		})
	}
	wg.Wait()
	kept := sr.lazy.decoded.Load()
	if kept == nil {
		t.Fatal("reading did not keep the decoding")
	}
	for i, g := range got {
		if i%2 == 0 && g != kept || i%2 == 1 && g != kept.GetResult() {
			t.Fatalf("reader %d got another message than the one kept", i)
		}
	}
}
