// Command openapi turns the Swagger 2.0 document protoc-gen-openapiv2 writes
// from proto/ (gen/openapi/mxprobe.swagger.json) into the OpenAPI 3.0
// document the controller serves at /openapi.json
// (gen/openapi/mxprobe.openapi.json), and adds what the generator cannot
// know from the protos: title and version, the bearer token scheme, the
// REST layer's headers (ETag, If-None-Match, If-Match, Idempotency-Key,
// Idempotent-Replayed) and statuses (304, 400 for page tokens, 409, 410, 412, 413, 422), and the
// endpoints served outside the gateway (the SSE event stream, backup and
// restore, health, metrics, this document). scripts/gen.sh runs it; it
// lives in its own module so kin-openapi stays out of the product's go.mod.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// Version is the API's version (the document's info.version): the /v1
// REST surface; bump the minor version when operations are added.
const Version = "1.1.0"

func main() {
	in := flag.String("in", "gen/openapi/mxprobe.swagger.json", "Swagger 2.0 document from protoc-gen-openapiv2")
	out := flag.String("out", "gen/openapi/mxprobe.openapi.json", "OpenAPI 3.0 document to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	doc, err := Convert(b)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(js, '\n'), 0o644)
}

// Convert converts and completes the document, and validates the result.
func Convert(swagger []byte) (*openapi3.T, error) {
	var v2 openapi2.T
	if err := json.Unmarshal(swagger, &v2); err != nil {
		return nil, fmt.Errorf("read swagger: %w", err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	complete(doc)
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the converted document is not valid OpenAPI 3: %w", err)
	}
	return doc, nil
}

func complete(doc *openapi3.T) {
	doc.Info = &openapi3.Info{
		Title:   "mxprobe controller API",
		Version: Version,
		Description: "REST/JSON API of an mxprobe controller cluster (any node answers; writes are forwarded to the leader). " +
			"Authenticate with an API token: `Authorization: Bearer <token>` (read, write or admin scope). " +
			"JSON field names are lowerCamelCase; 64-bit integers are strings; empty lists are `[]`. " +
			"Errors are google.rpc.Status objects `{code, message, details}`. See docs/api.md.",
		License: &openapi3.License{Name: "See the repository"},
	}
	doc.Servers = openapi3.Servers{{URL: "/", Description: "the controller node's HTTP port"}}
	if doc.Components == nil {
		doc.Components = &openapi3.Components{}
	}
	c := doc.Components
	c.SecuritySchemes = openapi3.SecuritySchemes{
		"bearer": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{Type: "http", Scheme: "bearer",
			Description: "An API token (controller tokens create), sent as Authorization: Bearer <token>. Not needed in insecure mode."}},
	}
	doc.Security = openapi3.SecurityRequirements{{"bearer": []string{}}}
	c.Headers = openapi3.Headers{
		"ETag": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
			Description: `Entity tag of the incident: "<incident id>-<sequence>". The sequence moves only on material changes.`,
			Schema:      strSchema()}}},
		"IdempotentReplayed": &openapi3.HeaderRef{Value: &openapi3.Header{Parameter: openapi3.Parameter{
			Description: "true when the answer replays an earlier request with the same Idempotency-Key (nothing was done again).",
			Schema:      strSchema()}}},
	}
	c.Parameters = openapi3.ParametersMap{
		"IfNoneMatch": &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "If-None-Match", In: "header",
			Description: "An ETag from an earlier answer: 304 Not Modified when the incident is still at that sequence.", Schema: strSchema()}},
		"IfMatch": &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "If-Match", In: "header",
			Description: "Act only if the incident is still at this ETag (412 Precondition Failed otherwise). The same value may be sent as a body field etag.",
			Schema:      strSchema()}},
		"IdempotencyKey": &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "Idempotency-Key", In: "header",
			Description: "1 to 255 visible ASCII characters. A retry with the same key and request is answered from the first (Idempotent-Replayed: true), through any node and after failover; the same key with a different request is 422.",
			Schema:      &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{"string"}, MinLength: 1, MaxLength: ptr(uint64(255))}}}},
	}
	status := &openapi3.SchemaRef{Ref: "#/components/schemas/rpcStatus", Value: c.Schemas["rpcStatus"].Value}
	errResp := func(desc string) *openapi3.ResponseRef {
		return &openapi3.ResponseRef{Value: &openapi3.Response{Description: &desc,
			Content: openapi3.NewContentWithJSONSchemaRef(status)}}
	}
	c.Responses = openapi3.ResponseBodies{
		"Unauthorized":        errResp("No valid API token (401)."),
		"Forbidden":           errResp("The token's scope or sites do not allow this (403)."),
		"TooLarge":            errResp("The request body is larger than the endpoint allows (413)."),
		"PreconditionFailed":  errResp("The incident moved on: its ETag no longer matches If-Match (412). Get it again and retry with the new ETag."),
		"IdempotencyReused":   errResp("The Idempotency-Key was used before with a different request (422)."),
		"IdempotencyInFlight": errResp("A request with this Idempotency-Key is still being processed (409); retry later."),
		"BadPageToken": errResp("Invalid arguments (400), among them a page_token that does not come from this API or whose position is " +
			"past the end of the list (the listing changed under it): list again without a token."),
	}
	ref := func(name string) *openapi3.ResponseRef {
		return &openapi3.ResponseRef{Ref: "#/components/responses/" + name, Value: c.Responses[name].Value}
	}
	param := func(name string) *openapi3.ParameterRef {
		return &openapi3.ParameterRef{Ref: "#/components/parameters/" + name, Value: c.Parameters[name].Value}
	}
	headers := func(names ...string) openapi3.Headers {
		h := openapi3.Headers{}
		for _, n := range names {
			key := n
			if n == "IdempotentReplayed" {
				key = "Idempotent-Replayed"
			}
			h[key] = &openapi3.HeaderRef{Ref: "#/components/headers/" + n, Value: c.Headers[n].Value}
		}
		return h
	}

	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			op.Responses.Set("401", ref("Unauthorized"))
			op.Responses.Set("403", ref("Forbidden"))
			if method == "POST" || method == "PATCH" || method == "PUT" {
				op.Responses.Set("413", ref("TooLarge"))
			}
			isIncident := path == "/v1/incidents/{id}"
			isAction := strings.HasPrefix(path, "/v1/incidents/{id}:")
			switch {
			case isIncident && method == "GET":
				op.Parameters = append(op.Parameters, param("IfNoneMatch"))
				ok := op.Responses.Status(200)
				ok.Value.Headers = headers("ETag")
				desc := "Not modified: the incident is still at the ETag sent in If-None-Match."
				op.Responses.Set("304", &openapi3.ResponseRef{Value: &openapi3.Response{Description: &desc, Headers: headers("ETag")}})
			case isIncident && method == "PATCH", isAction:
				op.Parameters = append(op.Parameters, param("IfMatch"), param("IdempotencyKey"))
				ok := op.Responses.Status(200)
				ok.Value.Headers = headers("ETag", "IdempotentReplayed")
				op.Responses.Set("412", ref("PreconditionFailed"))
				op.Responses.Set("422", ref("IdempotencyReused"))
				op.Responses.Set("409", ref("IdempotencyInFlight"))
			case path == "/v1/events" && method == "GET":
				op.Responses.Set("410", errResp("The cursor is older than the events still kept (compacted): list incidents again, then follow from compactedThrough."))
			}
			if path == "/v1/incidents" || path == "/v1/deliveries" || path == "/v1/results" {
				op.Responses.Set("400", ref("BadPageToken"))
				op.Description = strings.TrimSpace(op.Description + "\n\nPages are keyed: page_token is the next_page_token of the previous page " +
					"(opaque; stable while incidents change), empty next_page_token means the end; a token that does not come from this API, " +
					"or one past the end, is 400.")
			}
		}
	}
	addOutsideGateway(doc, errResp, ref)
}

// addOutsideGateway documents the endpoints the controller serves next to
// the gateway.
func addOutsideGateway(doc *openapi3.T, errResp func(string) *openapi3.ResponseRef, ref func(string) *openapi3.ResponseRef) {
	text := func(ct, desc string, schema *openapi3.Schema) *openapi3.ResponseRef {
		return &openapi3.ResponseRef{Value: &openapi3.Response{Description: &desc,
			Content: openapi3.Content{ct: &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: schema}}}}}
	}
	public := &openapi3.SecurityRequirements{}
	str := openapi3.NewStringSchema()
	bin := openapi3.NewStringSchema()
	bin.Format = "binary"
	resp := func(pairs ...any) *openapi3.Responses {
		r := openapi3.NewResponses()
		r.Delete("default")
		for i := 0; i < len(pairs); i += 2 {
			r.Set(pairs[i].(string), pairs[i+1].(*openapi3.ResponseRef))
		}
		return r
	}
	unauth := ref("Unauthorized")
	after := &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "after", In: "query", Description: "Cursor to follow from (the last event's cursor).",
		Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{"string"}, Format: "uint64"}}}}
	lastID := &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: "Last-Event-ID", In: "header",
		Description: "Resume after this cursor (browsers send it on reconnect); wins over after.", Schema: &openapi3.SchemaRef{Value: str}}}
	doc.Paths.Set("/v1/events:stream", &openapi3.PathItem{Get: &openapi3.Operation{
		OperationID: "StreamEvents", Tags: []string{"ControllerService"},
		Summary: "The incident change feed pushed as Server-Sent Events.",
		Description: "Each event: `id: <cursor>`, `event: <type>` (incident.opened, incident.updated, incident.acknowledged, incident.resolved), " +
			"`data: <IncidentEvent JSON>`; comments every 15 s keep proxies from closing the stream. A cursor older than the kept events ends " +
			"the stream with `event: compacted` (list incidents again). Read scope.",
		Parameters: openapi3.Parameters{after, lastID},
		Responses: resp("200", text("text/event-stream", "A stream of events, until the client disconnects.", str),
			"401", unauth, "410", errResp("The cursor was compacted away."), "503", errResp("Too many concurrent streams on this node.")),
	}})
	doc.Paths.Set("/v1/cluster/backup", &openapi3.PathItem{Get: &openapi3.Operation{
		OperationID: "Backup", Tags: []string{"ClusterAdmin"}, Summary: "Download a consistent backup of the replicated state (admin scope).",
		Description: "A StateSnapshot protobuf taken on the leader after a barrier (docs/snapshot-format.md, docs/operations.md).",
		Responses:   resp("200", text("application/octet-stream", "The backup.", bin), "401", unauth, "503", errResp("No leader, or the snapshot failed.")),
	}})
	doc.Paths.Set("/v1/cluster/restore", &openapi3.PathItem{Post: &openapi3.Operation{
		OperationID: "Restore", Tags: []string{"ClusterAdmin"}, Summary: "Replace the replicated state with a backup (admin scope; at most 1 GiB).",
		RequestBody: &openapi3.RequestBodyRef{Value: &openapi3.RequestBody{Required: true,
			Content: openapi3.Content{"application/octet-stream": &openapi3.MediaType{Schema: &openapi3.SchemaRef{Value: bin}}}}},
		Responses: resp("200", text("application/json", "Restored: `{}`.", openapi3.NewObjectSchema()), "400", errResp("Not a backup, or larger than 1 GiB."),
			"401", unauth, "413", ref("TooLarge"), "503", errResp("No leader, or the restore failed.")),
	}})
	for _, p := range []struct{ path, id, summary, ct string }{
		{"/healthz", "Healthz", "Liveness: the process serves HTTP.", "text/plain"},
		{"/readyz", "Readyz", "Readiness: this node knows a leader and has caught up (503 with the reason otherwise).", "text/plain"},
		{"/metrics", "Metrics", "Prometheus metrics: the node's own and the fleet's (docs/operations.md). Read scope unless auth.metrics_public.", "text/plain"},
		{"/openapi.json", "OpenAPI", "This document.", "application/json"},
	} {
		body := str
		if p.ct == "application/json" {
			body = openapi3.NewObjectSchema()
		}
		op := &openapi3.Operation{OperationID: p.id, Tags: []string{"Service"}, Summary: p.summary,
			Responses: resp("200", text(p.ct, "OK.", body))}
		if p.path != "/metrics" {
			op.Security = public
		} else {
			op.Responses.Set("401", unauth)
		}
		if p.path == "/readyz" {
			op.Responses.Set("503", text("text/plain", "Not ready, and why.", str))
		}
		doc.Paths.Set(p.path, &openapi3.PathItem{Get: op})
	}
	names := []string{}
	for _, t := range doc.Tags {
		names = append(names, t.Name)
	}
	for _, n := range []string{"ClusterAdmin", "Service"} {
		if !slices.Contains(names, n) {
			doc.Tags = append(doc.Tags, &openapi3.Tag{Name: n})
		}
	}
}

func strSchema() *openapi3.SchemaRef { return &openapi3.SchemaRef{Value: openapi3.NewStringSchema()} }

func ptr[T any](v T) *T { return &v }
