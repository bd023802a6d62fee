package node

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

func apiClient(t *testing.T, addr string) mxv1.ControllerServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mxv1.NewControllerServiceClient(conn)
}

func incidentsOf(n *Node) []*mxv1.Incident {
	var f incident.Filter
	return n.Store().State().Incidents(f)
}

// Failover: incidents and their sequence numbers are replicated through
// raft; after the leader changes, the new leader's correlation loop keeps
// them unchanged and continues their sequences.
func TestIncidentsSurviveFailover(t *testing.T) {
	nodes := newCluster(t, 3, nil, func(c *Config) {
		c.Correlation = correlate.LoopConfig{Interval: 50 * time.Millisecond, Engine: correlate.Config{OpenAfterObservations: 1, SilentAfter: time.Hour}}
	})
	l := leader(t, nodes)
	s, _ := connect(t, dial(t, l.n.GRPCAddr()), "edge02")
	sendBatch(t, s, 1, "CERT_NO_PRIVATE_KEY")
	var inc *mxv1.Incident
	waitUntil(t, 10*time.Second, "incident opened on the leader", func() bool {
		incs := incidentsOf(l.n)
		if len(incs) == 1 && incs[0].GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
			inc = incs[0]
			return true
		}
		return false
	})
	// Acknowledge through a follower: forwarded to the leader.
	var follower *testNode
	for _, tn := range nodes {
		if tn != l {
			follower = tn
			break
		}
	}
	ack, err := apiClient(t, follower.n.GRPCAddr()).AcknowledgeIncident(t.Context(), &mxv1.AcknowledgeIncidentRequest{Id: inc.GetId(), Actor: "alice", Comment: "on it"})
	if err != nil {
		t.Fatal(err)
	}
	if ack.GetIncident().GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED || ack.GetIncident().GetSequence() != inc.GetSequence()+1 {
		t.Fatalf("ack: %v seq %d", ack.GetIncident().GetState(), ack.GetIncident().GetSequence())
	}
	before := ack.GetIncident()
	waitUntil(t, 10*time.Second, "every node has the acknowledged incident", func() bool {
		for _, tn := range nodes {
			got := tn.n.Store().State().Incident(before.GetId())
			if !proto.Equal(got, before) {
				return false
			}
		}
		return true
	})
	_ = s.CloseSend()
	oldID := l.cfg.NodeID
	l.stop()
	l2 := leader(t, nodes)
	if l2.cfg.NodeID == oldID {
		t.Fatal("stopped node still leads")
	}
	// The new leader runs rounds; with no new data nothing changes.
	time.Sleep(500 * time.Millisecond)
	if got := l2.n.Store().State().Incident(before.GetId()); !proto.Equal(got, before) {
		t.Fatalf("incident changed across failover:\nbefore %v\nafter  %v", before, got)
	}
	// Read through the API of the new leader (linearizable).
	g, err := apiClient(t, l2.n.GRPCAddr()).GetIncident(t.Context(), &mxv1.GetIncidentRequest{Id: before.GetFingerprint()})
	if err != nil || !proto.Equal(g.GetIncident(), before) {
		t.Fatalf("GetIncident by fingerprint on new leader: %v %v", err, g)
	}
	// A new observation continues the same revisions on the new leader; it
	// is not a material change, so the sequence (and the ETag) stay.
	// (To whichever node leads by then: with one node stopped, a loaded
	// machine may still move leadership between the other two.)
	reportToLeader(t, nodes, "edge02", 2, "CERT_NO_PRIVATE_KEY")
	waitUntil(t, 10*time.Second, "new observation recorded", func() bool {
		got := l2.n.Store().State().Incident(before.GetId())
		return got.GetRevision() == before.GetRevision()+1 && got.GetSequence() == before.GetSequence() &&
			got.GetObservations() > before.GetObservations() && got.GetState() == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED
	})
	r, err := apiClient(t, l2.n.GRPCAddr()).ResolveIncident(t.Context(), &mxv1.ResolveIncidentRequest{Id: before.GetId(), Actor: "bob", Comment: "removed the keyless cert", ExpectedSequence: before.GetSequence()})
	if err != nil {
		t.Fatal(err)
	}
	tl := r.GetIncident().GetTimeline()
	last := tl[len(tl)-1]
	if last.GetKind() != "resolved" || last.GetActor() != "bob" || last.GetComment() != "removed the keyless cert" || last.GetSequence() != before.GetSequence()+1 {
		t.Fatalf("timeline tail %v", last)
	}
	if _, err := apiClient(t, l2.n.GRPCAddr()).AcknowledgeIncident(t.Context(), &mxv1.AcknowledgeIncidentRequest{Id: before.GetId(), Actor: "eve", ExpectedSequence: 1}); err == nil {
		t.Fatal("stale expected_sequence accepted")
	}
}
