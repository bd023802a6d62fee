package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/api/apitest"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// GET /v1/incidents/{id}: ETag and If-None-Match (304, weak and lists
// too); :acknowledge with a stale If-Match or etag field (412), with a
// stale expectedSequence alone (409), with both disagreeing (400); an
// Idempotency-Key replays the exact answer and a reuse with another body is
// 422; the write acts once and a changed incident has a new ETag.
func TestRESTIncidentETagPreconditionsAndIdempotency(t *testing.T) {
	tw := newTwin(t, twinConfig{})
	inc := tw.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	url := "/v1/incidents/" + inc.GetId()

	g := tw.do(t, "GET", url, nil, "")
	tag := g.header.Get("ETag")
	if g.code != 200 || tag != fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()) || tag != IncidentETag(inc) {
		t.Fatalf("GET: %d ETag %q", g.code, tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other-1", ` + tag, "*"} {
		if nm := tw.do(t, "GET", url, map[string]string{"If-None-Match": inm}, ""); nm.code != http.StatusNotModified || nm.body != "" || nm.header.Get("ETag") != tag {
			t.Errorf("If-None-Match %s: %d %q %q", inm, nm.code, nm.header.Get("ETag"), nm.body)
		}
	}
	if nm := tw.do(t, "GET", url, map[string]string{"If-None-Match": `"other-1"`}, ""); nm.code != 200 {
		t.Errorf("If-None-Match of another tag: %d", nm.code)
	}
	// By fingerprint too, with the same tag.
	if g := tw.do(t, "GET", "/v1/incidents/"+inc.GetFingerprint(), nil, ""); g.code != 200 || g.header.Get("ETag") != tag {
		t.Errorf("GET by fingerprint: %d %q", g.code, g.header.Get("ETag"))
	}

	stale := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+5)
	if a := tw.do(t, "POST", url+":acknowledge", map[string]string{"If-Match": stale}, `{"actor":"alice"}`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", a.code, a.body)
	}
	a := tw.do(t, "POST", url+":acknowledge", nil, `{"actor":"alice","etag":`+strconv.Quote(stale)+`}`)
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if a.code != http.StatusPreconditionFailed || json.Unmarshal([]byte(a.body), &e) != nil || e.Code != int(codes.Aborted) || e.Message == "" {
		t.Fatalf("stale etag field: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", url+":acknowledge", map[string]string{"If-Match": `"inc-00000000000000bb-1-1"`}, `{"actor":"alice"}`); a.code != http.StatusPreconditionFailed {
		t.Errorf("If-Match of another incident: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", url+":acknowledge", nil, `{"actor":"alice","expectedSequence":"9"}`); a.code != http.StatusConflict {
		t.Errorf("stale expectedSequence without an etag: %d %s", a.code, a.body)
	}
	for _, bad := range []string{`{"actor":"alice","etag":"nope"}`, `{"actor":"alice","etag":` + strconv.Quote(tag) + `,"expectedSequence":"7"}`, `[1]`, `{"actor":"alice","etag":7}`} {
		if a := tw.do(t, "POST", url+":acknowledge", nil, bad); a.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, a.code, a.body)
		}
	}
	if a := tw.do(t, "POST", url+":acknowledge", map[string]string{"If-Match": tag}, `{"actor":"alice","etag":`+strconv.Quote(stale)+`}`); a.code != http.StatusBadRequest {
		t.Errorf("If-Match and etag disagree: %d %s", a.code, a.body)
	}
	if a := tw.do(t, "POST", url+":acknowledge", map[string]string{"Idempotency-Key": "bad key"}, `{"actor":"alice"}`); a.code != http.StatusBadRequest {
		t.Errorf("key with a space: %d %s", a.code, a.body)
	}
	if n := apitest.TimelineKinds(tw.store.State().Incident(inc.GetId()), "acknowledged"); n != 0 {
		t.Fatalf("a refused write acknowledged the incident (%d)", n)
	}

	body := `{"actor":"alice","comment":"on it","etag":` + strconv.Quote(tag) + `}`
	hdr := map[string]string{"Idempotency-Key": "ack-7f3a"}
	first := tw.do(t, "POST", url+":acknowledge", hdr, body)
	if first.code != 200 || first.header.Get("Idempotent-Replayed") != "" || !strings.Contains(first.body, "INCIDENT_STATE_ACKNOWLEDGED") {
		t.Fatalf("ack: %d %q %s", first.code, first.header, first.body)
	}
	again := tw.do(t, "POST", url+":acknowledge", hdr, body)
	if again.code != 200 || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" || again.header.Get("ETag") != first.header.Get("ETag") {
		t.Fatalf("replay: %d %q %s", again.code, again.header, again.body)
	}
	if d := tw.do(t, "POST", url+":acknowledge", hdr, `{"actor":"mallory"}`); d.code != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", d.code, d.body)
	}
	acked := tw.store.State().Incident(inc.GetId())
	if n := apitest.TimelineKinds(acked, "acknowledged"); n != 1 || acked.GetSequence() != inc.GetSequence()+1 {
		t.Fatalf("%d acknowledged entries, sequence %d", n, acked.GetSequence())
	}
	if g2 := tw.do(t, "GET", url, map[string]string{"If-None-Match": tag}, ""); g2.code != 200 || g2.header.Get("ETag") != IncidentETag(acked) {
		t.Fatalf("changed incident: %d %q", g2.code, g2.header.Get("ETag"))
	}
	// A second acknowledgement is refused by the lifecycle (400), and the
	// resolve takes the current tag.
	if a := tw.do(t, "POST", url+":acknowledge", nil, `{"actor":"alice"}`); a.code != http.StatusBadRequest {
		t.Errorf("second acknowledge: %d %s", a.code, a.body)
	}
	r := tw.do(t, "POST", url+":resolve", map[string]string{"If-Match": IncidentETag(acked)}, `{"actor":"bob","comment":"removed the keyless cert"}`)
	if r.code != 200 || !strings.Contains(r.body, "INCIDENT_STATE_RESOLVED") || r.header.Get("ETag") == IncidentETag(acked) {
		t.Fatalf("resolve: %d %q %s", r.code, r.header.Get("ETag"), r.body)
	}
	tl := tw.store.State().Incident(inc.GetId()).GetTimeline()
	if last := tl[len(tl)-1]; last.GetKind() != "resolved" || last.GetActor() != "bob" || last.GetComment() != "removed the keyless cert" {
		t.Fatalf("timeline tail %v", last)
	}
}

// gRPC: acknowledge and resolve through a follower are forwarded to the
// leader; the idempotency key's replay is relayed back (header); without a
// key the same resolve is a second action, refused.
func TestGRPCIncidentActionsForwardedWithIdempotency(t *testing.T) {
	l := newTwin(t, twinConfig{})
	f := l.follower(t, false)
	inc := l.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	ack, err := f.ctl().AcknowledgeIncident(t.Context(), &mxv1.AcknowledgeIncidentRequest{Id: inc.GetFingerprint(), Actor: "alice", Comment: "on it"})
	if err != nil || ack.GetIncident().GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED || ack.GetIncident().GetSequence() != inc.GetSequence()+1 {
		t.Fatalf("ack via the follower: %v %v", ack, err)
	}
	req := &mxv1.ResolveIncidentRequest{Id: inc.GetId(), Actor: "servicenow", Comment: "fixed", IdempotencyKey: "snow-resolve-0042"}
	res, err := f.ctl().ResolveIncident(t.Context(), req)
	if err != nil || res.GetIncident().GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED {
		t.Fatalf("resolve: %v %v", res, err)
	}
	for _, tw := range []*twin{f, l} {
		var md metadata.MD
		again, err := tw.ctl().ResolveIncident(t.Context(), req, grpc.Header(&md))
		if err != nil || len(md.Get(ReplayedHeader)) == 0 || again.GetIncident().GetSequence() != res.GetIncident().GetSequence() {
			t.Fatalf("retry: %v %v (header %v)", again, err, md)
		}
	}
	other := proto.CloneOf(req)
	other.Comment = "something else"
	if _, err := f.ctl().ResolveIncident(t.Context(), other); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("same key, other request: %v", err)
	}
	if n := apitest.TimelineKinds(l.store.State().Incident(inc.GetId()), "resolved"); n != 1 {
		t.Fatalf("resolved %d times", n)
	}
	req.IdempotencyKey = ""
	if _, err := l.ctl().ResolveIncident(t.Context(), req); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a second resolve without a key: %v", err)
	}
	if _, err := l.ctl().AcknowledgeIncident(t.Context(), &mxv1.AcknowledgeIncidentRequest{Id: inc.GetId(), Actor: "eve", ExpectedSequence: 1}); status.Code(err) != codes.Aborted {
		t.Fatalf("stale expected_sequence: %v", err)
	}
}

// GET /v1/incidents pages by keyed cursor through the gateway: every
// incident once, in order; brief drops the timeline; a forged token, a page
// size out of range and a bad filter are 400.
func TestRESTIncidentListPages(t *testing.T) {
	tw := newTwin(t, twinConfig{})
	var want []string
	for i := range 5 {
		inc := tw.putIncident(t, siteIncident(fmt.Sprintf("inc-%016x-1", i+1), fmt.Sprintf("%016x", i+1), "amsterdam"))
		want = append(want, inc.GetId())
	}
	type page struct {
		Incidents []struct {
			ID       string            `json:"id"`
			Timeline []json.RawMessage `json:"timeline"`
		} `json:"incidents"`
		Next string `json:"nextPageToken"`
	}
	var got []string
	tok, pages := "", 0
	for {
		a := tw.do(t, "GET", "/v1/incidents?pageSize=2&brief=true&pageToken="+tok, nil, "")
		var p page
		if a.code != 200 || json.Unmarshal([]byte(a.body), &p) != nil {
			t.Fatalf("page: %d %s", a.code, a.body)
		}
		pages++
		for _, inc := range p.Incidents {
			got = append(got, inc.ID)
			if len(inc.Timeline) != 0 {
				t.Errorf("brief listing carries %s's timeline", inc.ID)
			}
		}
		if tok = p.Next; tok == "" || pages > 5 {
			break
		}
	}
	all := tw.store.State().Incidents(incident.Filter{})
	if len(got) != 5 || pages != 3 || len(all) != 5 {
		t.Fatalf("paged %v in %d pages", got, pages)
	}
	for i, inc := range all {
		if got[i] != inc.GetId() {
			t.Fatalf("paged %v, listed %v", got, want)
		}
	}
	for _, q := range []string{"pageToken=not-a-token", "pageSize=-1", "filter=" + strings.Repeat("x", 10)} {
		if a := tw.do(t, "GET", "/v1/incidents?"+q, nil, ""); a.code != http.StatusBadRequest {
			t.Errorf("GET /v1/incidents?%s: %d %s", q, a.code, a.body)
		}
	}
	if a := tw.do(t, "GET", "/v1/incidents/inc-0000000000000fff-1", nil, ""); a.code != http.StatusNotFound {
		t.Errorf("unknown incident: %d %s", a.code, a.body)
	}
}

// PATCH /v1/incidents/{id} through a follower (forwarded): validation
// (400), unknown incident (404), If-Match (412), Idempotency-Key replay,
// the new ETag, the timeline entry, incident.updated in the feed; removal
// of one reference over gRPC.
func TestRESTPatchIncidentExternalRefs(t *testing.T) {
	l := newTwin(t, twinConfig{})
	f := l.follower(t, false)
	inc := l.putIncident(t, siteIncident("inc-00000000000000aa-1", "00000000000000aa", "amsterdam"))
	url := "/v1/incidents/" + inc.GetId()
	tag := IncidentETag(inc)
	stale := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+3)
	body := `{"externalRefs":{"servicenow":"INC0012345","jira":"OPS-42"},"actor":"alice","comment":"tickets"}`

	if a := f.do(t, "PATCH", url, map[string]string{"If-Match": stale}, body); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d %s", a.code, a.body)
	}
	for _, bad := range []string{`{"externalRefs":{},"actor":"alice"}`, `{"externalRefs":{"Service Now":"x"},"actor":"alice"}`,
		`{"externalRefs":{"jira":"a\nb"},"actor":"alice"}`, `{"externalRefs":{"jira":"OPS-1"}}`, `{"external_refs":{"jira":"OPS-1"},"actor":"a","etag":"nope"}`} {
		if a := f.do(t, "PATCH", url, nil, bad); a.code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, a.code, a.body)
		}
	}
	if a := f.do(t, "PATCH", "/v1/incidents/inc-0000000000000000-1", nil, body); a.code != http.StatusNotFound {
		t.Fatalf("unknown incident: %d %s", a.code, a.body)
	}
	hdr := map[string]string{"If-Match": tag, "Idempotency-Key": "refs-1"}
	first := f.do(t, "PATCH", url, hdr, body)
	newTag := fmt.Sprintf(`"%s-%d"`, inc.GetId(), inc.GetSequence()+1)
	if first.code != 200 || first.header.Get("ETag") != newTag {
		t.Fatalf("PATCH: %d %q %s", first.code, first.header.Get("ETag"), first.body)
	}
	var got struct {
		Incident struct {
			ExternalRefs map[string]string `json:"externalRefs"`
			Timeline     []struct{ Kind, Actor, Comment string }
		} `json:"incident"`
	}
	if err := json.Unmarshal([]byte(first.body), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"servicenow": "INC0012345", "jira": "OPS-42"}
	last := got.Incident.Timeline[len(got.Incident.Timeline)-1]
	if !maps.Equal(got.Incident.ExternalRefs, want) || last.Kind != "external_refs" || last.Actor != "alice" || last.Comment != "set jira=OPS-42, servicenow=INC0012345: tickets" {
		t.Fatalf("answer %+v", got.Incident)
	}
	if again := f.do(t, "PATCH", url, hdr, body); again.code != 200 || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %q %s", again.code, again.header, again.body)
	}
	if a := f.do(t, "PATCH", url, map[string]string{"If-Match": tag}, `{"externalRefs":{"jira":"OPS-43"},"actor":"alice"}`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("old tag: %d %s", a.code, a.body)
	}
	if g := l.do(t, "GET", url, map[string]string{"If-None-Match": newTag}, ""); g.code != http.StatusNotModified {
		t.Fatalf("GET If-None-Match new tag: %d", g.code)
	}
	evs := listEvents(t, l, 0)
	if len(evs) != 2 || evs[1].Type != incident.EventUpdated || evs[1].Sequence != strconv.FormatUint(inc.GetSequence()+1, 10) {
		t.Fatalf("events %+v", evs)
	}
	resp, err := l.ctl().UpdateIncidentRefs(t.Context(), &mxv1.UpdateIncidentRefsRequest{Id: inc.GetFingerprint(), ExternalRefs: map[string]string{"jira": ""}, Actor: "bob"})
	if err != nil || !maps.Equal(resp.GetIncident().GetExternalRefs(), map[string]string{"servicenow": "INC0012345"}) {
		t.Fatalf("remove via gRPC: %v %v", err, resp)
	}
}
