package node

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// PATCH /v1/incidents/{id} attaches external references through raft: sent
// to a follower (forwarded), If-Match (412), Idempotency-Key replay, a new
// ETag, a timeline entry naming the actor, incident.updated in the feed,
// the refs on every node, and the filter/validation errors.
func TestRESTPatchIncidentExternalRefs(t *testing.T) {
	nodes := newCluster(t, 3, nil, fastCorrelation)
	l := leader(t, nodes)
	inc := openIncident(t, l.n)
	var follower *testNode
	for _, tn := range nodes {
		if tn != l {
			follower = tn
			break
		}
	}
	url := "http://" + follower.n.HTTPAddr() + "/v1/incidents/" + inc.GetId()
	tag := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence())
	stale := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+3)
	body := `{"externalRefs":{"servicenow":"INC0012345","jira":"OPS-42"},"actor":"alice","comment":"tickets"}`

	if a := do(t, "PATCH", url, map[string]string{"If-Match": stale}, body); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", a.code, a.body)
	}
	for _, bad := range []string{`{"externalRefs":{},"actor":"alice"}`, `{"externalRefs":{"Service Now":"x"},"actor":"alice"}`,
		`{"externalRefs":{"jira":"a\nb"},"actor":"alice"}`, `{"externalRefs":{"jira":"OPS-1"}}`, `{"external_refs":{"jira":"OPS-1"},"actor":"a","etag":"nope"}`} {
		if a := do(t, "PATCH", url, nil, bad); a.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, a.code, a.body)
		}
	}
	if a := do(t, "PATCH", "http://"+follower.n.HTTPAddr()+"/v1/incidents/inc-0000000000000000-1", nil, body); a.code != http.StatusNotFound {
		t.Fatalf("unknown incident: %d %s", a.code, a.body)
	}

	hdr := map[string]string{"If-Match": tag, "Idempotency-Key": "refs-1"}
	first := do(t, "PATCH", url, hdr, body)
	if first.code != 200 {
		t.Fatalf("PATCH: %d %s", first.code, first.body)
	}
	newTag := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+1)
	if first.header.Get("ETag") != newTag {
		t.Fatalf("ETag %q, want %q", first.header.Get("ETag"), newTag)
	}
	var got struct {
		Incident struct {
			ExternalRefs map[string]string `json:"externalRefs"`
			Sequence     string            `json:"sequence"`
			Timeline     []struct {
				Kind, Actor, Comment string
			} `json:"timeline"`
		} `json:"incident"`
	}
	if err := json.Unmarshal(first.body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"servicenow": "INC0012345", "jira": "OPS-42"}
	last := got.Incident.Timeline[len(got.Incident.Timeline)-1]
	if !maps.Equal(got.Incident.ExternalRefs, want) || got.Incident.Sequence != strconv.FormatUint(inc.GetSequence()+1, 10) ||
		last.Kind != "external_refs" || last.Actor != "alice" || last.Comment != "set jira=OPS-42, servicenow=INC0012345: tickets" {
		t.Fatalf("answer %+v", got.Incident)
	}
	again := do(t, "PATCH", url, hdr, body)
	if again.code != 200 || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %q %s", again.code, again.header, again.body)
	}
	// The old tag is now stale.
	if a := do(t, "PATCH", url, map[string]string{"If-Match": tag}, `{"externalRefs":{"jira":"OPS-43"},"actor":"alice"}`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("old tag: %d %s", a.code, a.body)
	}
	for _, tn := range nodes {
		waitUntil(t, 5*time.Second, "refs replicated", func() bool {
			cur := tn.n.Store().State().Incident(inc.GetId())
			return cur != nil && maps.Equal(cur.GetExternalRefs(), want) && cur.GetSequence() == inc.GetSequence()+1
		})
	}
	if g := do(t, "GET", url, map[string]string{"If-None-Match": newTag}, ""); g.code != http.StatusNotModified {
		t.Fatalf("GET If-None-Match new tag: %d", g.code)
	}
	evs := listEvents(t, "http://"+l.n.HTTPAddr(), 0, "")
	if len(evs) != 2 || evs[1].Type != incident.EventUpdated || evs[1].Sequence != strconv.FormatUint(inc.GetSequence()+1, 10) {
		t.Fatalf("events %+v", evs)
	}
	// Removing one reference (gRPC, on the leader).
	c := apiClient(t, l.n.GRPCAddr())
	resp, err := c.UpdateIncidentRefs(t.Context(), &mxv1.UpdateIncidentRefsRequest{Id: inc.GetFingerprint(), ExternalRefs: map[string]string{"jira": ""}, Actor: "bob"})
	if err != nil || !maps.Equal(resp.GetIncident().GetExternalRefs(), map[string]string{"servicenow": "INC0012345"}) {
		t.Fatalf("remove via gRPC: %v %v", err, resp)
	}
}
