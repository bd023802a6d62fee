package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/portalloc"
	"github.com/mxprobe/mxprobe/tools/openapi/client"
)

const (
	docPath     = "../../gen/openapi/mxprobe.openapi.json"
	swaggerPath = "../../gen/openapi/mxprobe.swagger.json"
)

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The published document is valid OpenAPI 3 (kin-openapi), is what the
// converter makes of the generator's output (fresh), and documents what
// integrators need beyond the protos.
func TestDocumentIsValidAndComplete(t *testing.T) {
	doc := loadDoc(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("kin-openapi: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Info.Title != "mxprobe controller API" || doc.Info.Version != Version {
		t.Fatalf("openapi %q title %q version %q", doc.OpenAPI, doc.Info.Title, doc.Info.Version)
	}
	swagger, err := os.ReadFile(swaggerPath)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Convert(swagger)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.MarshalIndent(fresh, "", "  ")
	if have, _ := os.ReadFile(docPath); !bytes.Equal(bytes.TrimSpace(have), bytes.TrimSpace(want)) {
		t.Fatal("gen/openapi/mxprobe.openapi.json is stale: run scripts/gen.sh")
	}
	if s := doc.Components.SecuritySchemes["bearer"]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" || len(doc.Security) == 0 {
		t.Fatal("no bearer security scheme required by default")
	}
	op := func(path, method string) *openapi3.Operation {
		t.Helper()
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Fatalf("%s %s not documented", method, path)
		}
		return item.GetOperation(method)
	}
	hasParam := func(o *openapi3.Operation, in, name string) bool {
		for _, p := range o.Parameters {
			if p.Value.In == in && p.Value.Name == name {
				return true
			}
		}
		return false
	}
	get := op("/v1/incidents/{id}", "GET")
	if !hasParam(get, "header", "If-None-Match") || get.Responses.Status(304) == nil || get.Responses.Status(200).Value.Headers["ETag"] == nil {
		t.Error("GET /v1/incidents/{id}: If-None-Match, 304 and ETag")
	}
	for _, w := range []struct{ path, method string }{{"/v1/incidents/{id}:acknowledge", "POST"}, {"/v1/incidents/{id}:resolve", "POST"}, {"/v1/incidents/{id}", "PATCH"}} {
		o := op(w.path, w.method)
		for _, code := range []int{412, 413, 422} {
			if o.Responses.Status(code) == nil {
				t.Errorf("%s %s: no %d", w.method, w.path, code)
			}
		}
		if !hasParam(o, "header", "If-Match") || !hasParam(o, "header", "Idempotency-Key") || o.Responses.Status(200).Value.Headers["Idempotent-Replayed"] == nil {
			t.Errorf("%s %s: If-Match, Idempotency-Key, Idempotent-Replayed", w.method, w.path)
		}
	}
	if sse := op("/v1/events:stream", "GET"); sse.Responses.Status(200).Value.Content.Get("text/event-stream") == nil || !hasParam(sse, "header", "Last-Event-ID") {
		t.Error("the SSE stream is not documented as text/event-stream with Last-Event-ID")
	}
	if op("/v1/cluster/backup", "GET").Responses.Status(200).Value.Content.Get("application/octet-stream") == nil ||
		op("/v1/cluster/restore", "POST").RequestBody == nil {
		t.Error("backup/restore")
	}
	if op("/v1/events", "GET").Responses.Status(410) == nil {
		t.Error("410 on a compacted cursor")
	}
	for _, p := range []string{"/v1/incidents", "/v1/results", "/v1/deliveries"} {
		if op(p, "GET").Responses.Status(400) == nil {
			t.Errorf("GET %s: no 400 for a page token past the end", p)
		}
	}
	if sec := op("/healthz", "GET").Security; sec == nil || len(*sec) != 0 {
		t.Error("/healthz must be documented without authentication")
	}
}

var ports portalloc.Allocator

// startController runs a real one-node controller (insecure: no tokens)
// and returns its HTTP base URL.
func startController(t *testing.T) (*node.Node, string) {
	t.Helper()
	raft, err := ports.Loopback()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.Start(ctx, node.Config{NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Insecure: true,
		GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", RaftListen: raft,
		Plan:   ingest.Plan{Interval: 30 * time.Second, Jitter: time.Second, ProbeTimeout: 5 * time.Second},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(30 * time.Second); !n.Store().LeaderReady(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("controller never led")
		}
	}
	return n, "http://" + n.HTTPAddr()
}

// validating checks every answer against the document (kin-openapi's
// openapi3filter): status, headers and body schema.
type validating struct {
	t      *testing.T
	router routers.Router
	next   http.RoundTripper
}

func (v validating) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Errorf("%s %s: no route in the document: %v", req.Method, req.URL.Path, err)
		return resp, nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.t.Errorf("%s %s -> %d does not match the document: %v\n%s", req.Method, req.URL, resp.StatusCode, err, body)
	}
	return resp, nil
}

// The client oapi-codegen generated from the document calls a running
// controller: lists (empty lists are []: incidents, agents, results,
// deliveries), one incident with its ETag, 304 on If-None-Match, 412 on a
// stale If-Match, Idempotency-Key replays, keyed page tokens of incidents,
// results and deliveries (past the end is 400), 404; every answer matches
// the document.
func TestGeneratedClientAgainstController(t *testing.T) {
	n, base := startController(t)
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewClientWithResponses(base, client.WithHTTPClient(&http.Client{Transport: validating{t: t, router: router, next: http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Empty lists are [], not absent.
	raw, err := c.ControllerServiceListIncidents(ctx, &client.ControllerServiceListIncidentsParams{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	if !bytes.Contains(b, []byte(`"incidents":[]`)) {
		t.Fatalf("empty list answered %s", b)
	}
	agents, err := c.ControllerServiceListAgentsWithResponse(ctx, &client.ControllerServiceListAgentsParams{})
	if err != nil || agents.StatusCode() != 200 || agents.JSON200 == nil || agents.JSON200.Agents == nil {
		t.Fatalf("agents: %v %v", err, agents)
	}
	res, err := c.ControllerServiceListResultsWithResponse(ctx, &client.ControllerServiceListResultsParams{})
	if err != nil || res.StatusCode() != 200 || !bytes.Contains(res.Body, []byte(`"results":[]`)) {
		t.Fatalf("results: %v %s", err, res.Body)
	}
	dl, err := c.ControllerServiceListDeliveriesWithResponse(ctx, &client.ControllerServiceListDeliveriesParams{})
	if err != nil || dl.StatusCode() != 200 || !bytes.Contains(dl.Body, []byte(`"deliveries":[]`)) {
		t.Fatalf("deliveries: %v %s", err, dl.Body)
	}
	// The results and delivery listings' tokens are keyed too: past the
	// end (here: after an agent that is not there) is 400, not an empty page.
	resTok := base64.RawURLEncoding.EncodeToString([]byte("edge99\x00certstore\x00"))
	if r, err := c.ControllerServiceListResultsWithResponse(ctx, &client.ControllerServiceListResultsParams{PageToken: &resTok}); err != nil || r.StatusCode() != 400 || r.JSON400 == nil {
		t.Fatalf("results token past the end: %v %d %s", err, r.StatusCode(), r.Body)
	}
	dlTok := base64.RawURLEncoding.EncodeToString([]byte("d1:7"))
	if r, err := c.ControllerServiceListDeliveriesWithResponse(ctx, &client.ControllerServiceListDeliveriesParams{PageToken: &dlTok}); err != nil || r.StatusCode() != 400 {
		t.Fatalf("delivery token past the end: %v %d %s", err, r.StatusCode(), r.Body)
	}

	// Three incidents through raft, as the correlation engine writes them.
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	var ups []*mxv1.Incident
	for i, id := range []string{"inc-0000000000000001-1", "inc-0000000000000002-1", "inc-0000000000000003-1"} {
		ups = append(ups, &mxv1.Incident{Id: id, Fingerprint: strings.Repeat(string(rune('1'+i)), 64), Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER,
			Cause: "CERT_NO_PRIVATE_KEY", Subject: "edge02.contoso.com", Severity: mxv1.Severity_SEVERITY_CRITICAL, State: mxv1.IncidentState_INCIDENT_STATE_OPEN,
			Sequence: 1, Revision: 1, FirstSeen: timestamppb.New(t0.Add(time.Duration(i) * time.Minute)), UpdatedAt: timestamppb.New(t0), Occurrence: 1,
			Summary: "edge02.contoso.com (site amsterdam): keyless certificate"})
	}
	if res, err := n.Store().ProposeIncidents(ctx, &mxv1.CorrelateIncidents{Upserts: ups}); err != nil || res.Applied != 3 {
		t.Fatalf("propose: %+v %v", res, err)
	}

	// Pages: keyed tokens, and a token past the end is an error.
	size := int32(2)
	p1, err := c.ControllerServiceListIncidentsWithResponse(ctx, &client.ControllerServiceListIncidentsParams{PageSize: &size})
	if err != nil || p1.JSON200 == nil || len(*p1.JSON200.Incidents) != 2 || p1.JSON200.NextPageToken == nil || *p1.JSON200.NextPageToken == "" {
		t.Fatalf("page 1: %v %s", err, p1.Body)
	}
	p2, err := c.ControllerServiceListIncidentsWithResponse(ctx, &client.ControllerServiceListIncidentsParams{PageSize: &size, PageToken: p1.JSON200.NextPageToken})
	if err != nil || p2.JSON200 == nil || len(*p2.JSON200.Incidents) != 1 || *p2.JSON200.NextPageToken != "" {
		t.Fatalf("page 2: %v %s", err, p2.Body)
	}
	last := (*p2.JSON200.Incidents)[0]
	if id := *last.Id; id != "inc-0000000000000001-1" {
		t.Fatalf("order: last is %s, want the oldest", id)
	}
	tok := pastEndToken(ups[0])
	if r, err := c.ControllerServiceListIncidentsWithResponse(ctx, &client.ControllerServiceListIncidentsParams{PageSize: &size, PageToken: &tok}); err != nil || r.StatusCode() != 400 || r.JSON400 == nil {
		t.Fatalf("token past the end: %v %d %s", err, r.StatusCode(), r.Body)
	}

	// One incident: ETag, 304, stale If-Match -> 412, Idempotency-Key replay.
	id := "inc-0000000000000003-1"
	g, err := c.ControllerServiceGetIncidentWithResponse(ctx, id, &client.ControllerServiceGetIncidentParams{})
	if err != nil || g.StatusCode() != 200 || g.JSON200.Incident == nil || *g.JSON200.Incident.Sequence != "1" {
		t.Fatalf("get: %v %s", err, g.Body)
	}
	etag := g.HTTPResponse.Header.Get("ETag")
	if etag != `"`+id+`-1"` {
		t.Fatalf("ETag %q", etag)
	}
	nm, err := c.ControllerServiceGetIncidentWithResponse(ctx, id, &client.ControllerServiceGetIncidentParams{IfNoneMatch: &etag})
	if err != nil || nm.StatusCode() != 304 {
		t.Fatalf("If-None-Match: %v %d", err, nm.StatusCode())
	}
	stale := `"` + id + `-7"`
	actor := "alice"
	ack, err := c.ControllerServiceAcknowledgeIncidentWithResponse(ctx, id, &client.ControllerServiceAcknowledgeIncidentParams{IfMatch: &stale},
		client.ControllerServiceAcknowledgeIncidentJSONRequestBody{Actor: &actor})
	if err != nil || ack.StatusCode() != 412 {
		t.Fatalf("stale If-Match: %v %d %s", err, ack.StatusCode(), ack.Body)
	}
	key := "ack-7f3a"
	for i := range 2 {
		ack, err = c.ControllerServiceAcknowledgeIncidentWithResponse(ctx, id, &client.ControllerServiceAcknowledgeIncidentParams{IfMatch: &etag, IdempotencyKey: &key},
			client.ControllerServiceAcknowledgeIncidentJSONRequestBody{Actor: &actor})
		if err != nil || ack.StatusCode() != 200 || ack.JSON200.Incident == nil || string(*ack.JSON200.Incident.State) != "INCIDENT_STATE_ACKNOWLEDGED" {
			t.Fatalf("ack %d: %v %d %s", i, err, ack.StatusCode(), ack.Body)
		}
		if replayed := ack.HTTPResponse.Header.Get("Idempotent-Replayed") == "true"; replayed != (i == 1) {
			t.Fatalf("ack %d: Idempotent-Replayed %v", i, replayed)
		}
	}
	if r, err := c.ControllerServiceGetIncidentWithResponse(ctx, "inc-ffffffffffffffff-1", &client.ControllerServiceGetIncidentParams{}); err != nil || r.StatusCode() != 404 {
		t.Fatalf("unknown incident: %v %d", err, r.StatusCode())
	}
	if r, err := c.ReadyzWithResponse(ctx); err != nil || r.StatusCode() != 200 {
		t.Fatalf("readyz: %v", err)
	}
	if r, err := c.OpenAPIWithResponse(ctx); err != nil || r.StatusCode() != 200 || !bytes.Contains(r.Body, []byte(`"title": "mxprobe controller API"`)) {
		t.Fatalf("/openapi.json does not serve the document: %v", err)
	}
}

// pastEndToken is the token the API issues after the oldest incident (its
// key, as internal/controller/api encodes it): what a client holds when the
// incidents after its page are gone.
func pastEndToken(last *mxv1.Incident) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "i1:%d:%d:%s", last.GetSeverity(), last.GetFirstSeen().AsTime().UnixNano(), last.GetId()))
}
