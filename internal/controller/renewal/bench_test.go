package renewal

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// BenchmarkFleetRun: one fleet pre-flight over 500 hybrid Edge servers'
// reports (each rebuilt from its inventory document and DER listing, then
// predicted), what POST /v1/preflight does on the leader.
func BenchmarkFleetRun(b *testing.B) {
	fl := newFleetB(b, 500)
	n := issue(b, fl.fabrikam, now.AddDate(1, 0, 0))
	req := Request{Agents: fl.agents, Results: fl.results, New: contentsOf(n), NewFile: "new.pfx", Now: now, StaleAfter: 5 * time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Run(req); err != nil {
			b.Fatal(err)
		}
	}
}

func newFleetB(b *testing.B, count int) *fleet {
	b.Helper()
	fl := newFleet(b)
	fl.agents, fl.results = nil, nil
	for i := range count {
		a, r := edge(b, fmt.Sprintf("edge%03d", i), fmt.Sprintf("site%d", i%10), fmt.Sprintf("EDGE%03d", i), fl.old, now.Add(-time.Minute))
		fl.agents, fl.results = append(fl.agents, a), append(fl.results, r)
	}
	return fl
}

// TestFleetAnswerSize logs the answer's size per server (the API's gRPC
// message limit bounds the fleet one call can cover).
func TestFleetAnswerSize(t *testing.T) {
	fl := newFleet(t)
	resp := fl.run(t, issue(t, fl.fabrikam, now.AddDate(1, 0, 0)), "")
	t.Logf("%d bytes for %d servers", proto.Size(resp), len(resp.GetAgents()))
}
