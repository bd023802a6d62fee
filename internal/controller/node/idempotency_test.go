package node

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
)

// An idempotency key is replicated with the write: a retry through another
// node, and after the leader is gone, is answered (Idempotent-Replayed) and
// acts once; the same key with another request is refused on any node.
func TestIdempotencyKeyHoldsAcrossNodesAndFailover(t *testing.T) {
	nodes := newCluster(t, 3, nil, fastCorrelation)
	l := leader(t, nodes)
	inc := openIncident(t, l.n)
	var fs []*testNode
	for _, tn := range nodes {
		if tn != l {
			fs = append(fs, tn)
		}
	}
	path := "/v1/incidents/" + inc.GetId() + ":acknowledge"
	hdr := map[string]string{"Idempotency-Key": "snow-ack-0042"}
	body := `{"actor":"servicenow","comment":"INC0042 assigned"}`

	first := do(t, "POST", "http://"+fs[0].n.HTTPAddr()+path, hdr, body)
	if first.code != 200 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("ack via %s: %d %q %s", fs[0].cfg.NodeID, first.code, first.header, first.body)
	}
	// Retry through another node: no second acknowledgement (which the
	// lifecycle would refuse with 400), the incident is returned.
	for _, tn := range []*testNode{fs[1], l} {
		again := do(t, "POST", "http://"+tn.n.HTTPAddr()+path, hdr, body)
		if again.code != 200 || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("ETag") != first.header.Get("ETag") ||
			!strings.Contains(string(again.body), "INCIDENT_STATE_ACKNOWLEDGED") {
			t.Fatalf("retry via %s: %d %q %s", tn.cfg.NodeID, again.code, again.header, again.body)
		}
		if d := do(t, "POST", "http://"+tn.n.HTTPAddr()+path, hdr, `{"actor":"mallory"}`); d.code != http.StatusUnprocessableEntity {
			t.Fatalf("same key, other request via %s: %d %s", tn.cfg.NodeID, d.code, d.body)
		}
	}
	if n := apitest.TimelineKinds(l.n.Store().State().Incident(inc.GetId()), "acknowledged"); n != 1 {
		t.Fatalf("%d acknowledgements", n)
	}

	// gRPC: resolve with a key, then kill the leader; the retry on a
	// survivor is answered from the replicated key.
	req := &mxv1.ResolveIncidentRequest{Id: inc.GetId(), Actor: "servicenow", Comment: "fixed", IdempotencyKey: "snow-resolve-0042"}
	res, err := apiClient(t, fs[0].n.GRPCAddr()).ResolveIncident(t.Context(), req)
	if err != nil || res.GetIncident().GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("resolve: %v %v", res, err)
	}
	seq := res.GetIncident().GetSequence()
	waitUntil(t, 10*time.Second, "followers applied the resolve", func() bool {
		for _, tn := range fs {
			if tn.n.Store().State().Incident(inc.GetId()).GetSequence() < seq {
				return false
			}
		}
		return true
	})
	l.stop()
	l2 := leader(t, fs)
	var md metadata.MD
	again, err := apiClient(t, l2.n.GRPCAddr()).ResolveIncident(t.Context(), req, grpc.Header(&md))
	if err != nil || len(md.Get("idempotent-replayed")) == 0 || again.GetIncident().GetId() != inc.GetId() {
		t.Fatalf("retry after failover: %v %v (header %v)", again, err, md)
	}
	if got := l2.n.Store().State().Incident(inc.GetId()); apitest.TimelineKinds(got, "resolved") != 1 {
		t.Fatalf("resolved %d times", apitest.TimelineKinds(got, "resolved"))
	}
	// Without a key the same resolve is a second action, refused by the lifecycle.
	req.IdempotencyKey = ""
	if _, err := apiClient(t, l2.n.GRPCAddr()).ResolveIncident(t.Context(), req); err == nil {
		t.Fatal("a second resolve without a key was accepted")
	}
}
