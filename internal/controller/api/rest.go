package api

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// REST conventions ITSM integrators expect, in front of the gateway:
// ETag / If-None-Match on GET /v1/incidents/{id}, If-Match or an
// "etag" body field and Idempotency-Key on :acknowledge / :resolve and
// PATCH /v1/incidents/{id} (external references), and
// HTTP statuses for the cases gRPC codes cannot express (410, 412). Every
// call still goes through the node's own gRPC server, so authentication,
// rate limits and forwarding to the leader stay the gRPC ones.

// IncidentETag is the entity tag of an incident at its sequence.
func IncidentETag(inc *mxv1.Incident) string {
	return `"` + inc.GetId() + "-" + strconv.FormatUint(inc.GetSequence(), 10) + `"`
}

// parseETag splits "<id>-<sequence>" (quotes optional, no weak tags).
func parseETag(tag string) (id string, seq uint64, ok bool) {
	tag = strings.TrimSpace(tag)
	if strings.HasPrefix(tag, "W/") {
		return "", 0, false
	}
	tag = strings.Trim(tag, `"`)
	i := strings.LastIndexByte(tag, '-')
	if i <= 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(tag[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return tag[:i], seq, true
}

// forwardResponse sets ETag on answers that carry one incident, and
// Idempotent-Replayed on writes answered from their idempotency key.
func forwardResponse(ctx context.Context, w http.ResponseWriter, m proto.Message) error {
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok && len(md.HeaderMD.Get(ReplayedHeader)) > 0 {
		w.Header().Del(runtime.MetadataHeaderPrefix + ReplayedHeader)
		w.Header().Set("Idempotent-Replayed", "true")
	}
	var inc *mxv1.Incident
	switch r := m.(type) {
	case *mxv1.GetIncidentResponse:
		inc = r.GetIncident()
	case *mxv1.AcknowledgeIncidentResponse:
		inc = r.GetIncident()
	case *mxv1.ResolveIncidentResponse:
		inc = r.GetIncident()
	case *mxv1.UpdateIncidentRefsResponse:
		inc = r.GetIncident()
	}
	if inc != nil {
		w.Header().Set("ETag", IncidentETag(inc))
	}
	return nil
}

type preconditionKey struct{}

// httpStatus maps a gRPC status to HTTP: the gateway's table, except for
// ErrorInfo reasons (410 compacted cursor, 412 etag) and Aborted on a
// request that carried an etag (412).
func httpStatus(ctx context.Context, st *status.Status) int {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == errorDomain {
			switch info.GetReason() {
			case ReasonCursorCompacted:
				return http.StatusGone
			case ReasonEtagMismatch:
				return http.StatusPreconditionFailed
			case ReasonIdempotencyKeyReused:
				return http.StatusUnprocessableEntity
			}
		}
	}
	if st.Code() == codes.Aborted && ctx.Value(preconditionKey{}) != nil {
		return http.StatusPreconditionFailed
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// errorHandler is the gateway's error handler with httpStatus.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	code := httpStatus(r.Context(), st)
	if code == runtime.HTTPStatusFromCode(st.Code()) {
		runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		return
	}
	writeStatus(w, code, st)
}

// writeStatus writes {code, message, details} like the gateway does.
func writeStatus(w http.ResponseWriter, code int, st *status.Status) {
	b, err := protojson.Marshal(st.Proto())
	if err != nil {
		b = []byte(`{"code":13,"message":"failed to marshal error"}`)
	}
	w.Header().Del("ETag")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	writeStatus(w, httpStatus(r.Context(), st), st)
}

var (
	incidentGetPath    = regexp.MustCompile(`^/v1/incidents/([^/:]+)$`)
	incidentActionPath = regexp.MustCompile(`^/v1/incidents/([^/:]+):(acknowledge|resolve)$`)
)

// maxActionBody bounds an acknowledge/resolve body.
const maxActionBody = 64 << 10

// restIncidents wraps the gateway.
type restIncidents struct {
	next http.Handler
	keys *idempotencyCache
}

func (h *restIncidents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && incidentGetPath.MatchString(r.URL.Path) && r.Header.Get("If-None-Match") != "":
		h.next.ServeHTTP(&notModifiedWriter{ResponseWriter: w, inm: r.Header.Get("If-None-Match")}, r)
	case r.Method == http.MethodPost && incidentActionPath.MatchString(r.URL.Path):
		h.action(w, r, incidentActionPath.FindStringSubmatch(r.URL.Path)[1])
	case r.Method == http.MethodPatch && incidentGetPath.MatchString(r.URL.Path):
		// External references: the same If-Match / etag and Idempotency-Key.
		h.action(w, r, incidentGetPath.FindStringSubmatch(r.URL.Path)[1])
	case r.Method == http.MethodGet && r.URL.Path == "/v1/deliveries":
		// ?status=FAILED as well as the enum's full name.
		q := r.URL.Query()
		if v := strings.ToUpper(q.Get("status")); v != "" && !strings.HasPrefix(v, "DELIVERY_STATUS_") {
			if _, err := strconv.Atoi(v); err != nil {
				q.Set("status", "DELIVERY_STATUS_"+v)
				r.URL.RawQuery = q.Encode()
			}
		}
		h.next.ServeHTTP(w, r)
	default:
		h.next.ServeHTTP(w, r)
	}
}

// action applies If-Match / etag, then Idempotency-Key, to a write on the
// incident pathID (acknowledge, resolve, PATCH of external references).
func (h *restIncidents) action(w http.ResponseWriter, r *http.Request, pathID string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxActionBody+1))
	if err != nil || len(body) > maxActionBody {
		writeError(w, r, status.Error(codes.InvalidArgument, "body: unreadable or larger than 64 KiB"))
		return
	}
	raw := body
	ifMatch := r.Header.Get("If-Match")
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &fields); err != nil {
			writeError(w, r, status.Errorf(codes.InvalidArgument, "body: not a JSON object: %v", err))
			return
		}
	}
	tag := ifMatch
	if v, ok := fields["etag"]; ok {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			writeError(w, r, status.Error(codes.InvalidArgument, "etag: a string such as \"inc-...-7\" is required"))
			return
		}
		if tag != "" && strings.Trim(tag, `"`) != strings.Trim(s, `"`) {
			writeError(w, r, status.Error(codes.InvalidArgument, "etag: differs from the If-Match header"))
			return
		}
		tag = s
		delete(fields, "etag")
	}
	if tag = strings.TrimSpace(tag); tag != "" && tag != "*" {
		id, seq, ok := parseETag(tag)
		if !ok {
			writeError(w, r, status.Error(codes.InvalidArgument, `etag: expected "<incident id>-<sequence>" as sent in ETag`))
			return
		}
		if strings.HasPrefix(pathID, "inc-") && id != pathID {
			st := status.Newf(codes.FailedPrecondition, "etag %s is not of incident %s", tag, pathID)
			st, _ = st.WithDetails(&errdetails.ErrorInfo{Reason: ReasonEtagMismatch, Domain: errorDomain})
			writeError(w, r, st.Err())
			return
		}
		for _, k := range []string{"expectedSequence", "expected_sequence"} {
			if v, ok := fields[k]; ok {
				var have json.Number
				if json.Unmarshal(bytes.Trim(v, `"`), &have) != nil || have.String() != strconv.FormatUint(seq, 10) {
					writeError(w, r, status.Error(codes.InvalidArgument, "expected_sequence: differs from the etag"))
					return
				}
				delete(fields, k)
			}
		}
		fields["expectedSequence"] = json.RawMessage(strconv.Quote(strconv.FormatUint(seq, 10)))
		r = r.WithContext(context.WithValue(r.Context(), preconditionKey{}, true))
	}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if !validIdempotencyKey(key) {
			writeError(w, r, status.Error(codes.InvalidArgument, "Idempotency-Key: 1 to 255 visible ASCII characters"))
			return
		}
		// Replicated with the write, so a retry through another node is
		// answered too (this node's cache below replays the exact bytes).
		fields["idempotencyKey"] = json.RawMessage(strconv.Quote(key))
	}
	if len(fields) > 0 || len(bytes.TrimSpace(body)) > 0 {
		body, _ = json.Marshal(fields)
	}
	r.Header.Del("If-Match")
	if key == "" {
		h.forward(w, r, body)
		return
	}
	ck := cacheKey(r, key)
	digest := sha256.Sum256(append([]byte(ifMatch+"\n"), raw...))
	e, first := h.keys.begin(ck, digest)
	if !first {
		switch {
		case e.digest != digest:
			writeStatus(w, http.StatusUnprocessableEntity, status.New(codes.InvalidArgument, "Idempotency-Key was already used with a different request"))
		case !e.done:
			writeStatus(w, http.StatusConflict, status.New(codes.Aborted, "a request with this Idempotency-Key is still in progress"))
		default:
			for k, v := range e.header {
				w.Header()[k] = v
			}
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(e.code)
			_, _ = w.Write(e.body)
		}
		return
	}
	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	h.forward(rec, r, body)
	h.keys.finish(ck, rec.code, w.Header().Clone(), rec.buf.Bytes())
}

func (h *restIncidents) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	h.next.ServeHTTP(w, r)
}

// cacheKey binds a key to the caller's credentials and the route.
func cacheKey(r *http.Request, key string) string {
	sum := sha256.Sum256([]byte(r.Header.Get("Authorization") + "\n" + r.URL.Path + "\n" + key))
	return string(sum[:])
}

// notModifiedWriter turns a 200 whose ETag matches If-None-Match into 304.
type notModifiedWriter struct {
	http.ResponseWriter
	inm     string
	wrote   bool
	discard bool
}

func (w *notModifiedWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code == http.StatusOK && etagMatches(w.inm, w.Header().Get("ETag")) {
		w.discard = true
		w.Header().Del("Content-Type")
		w.Header().Del("Content-Length")
		w.ResponseWriter.WriteHeader(http.StatusNotModified)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notModifiedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// etagMatches implements If-None-Match's weak comparison.
func etagMatches(inm, etag string) bool {
	if etag == "" {
		return false
	}
	norm := func(t string) string { return strings.TrimPrefix(strings.TrimSpace(t), "W/") }
	for _, t := range strings.Split(inm, ",") {
		if t = strings.TrimSpace(t); t == "*" || norm(t) == norm(etag) {
			return true
		}
	}
	return false
}

// recorder copies the answer for the idempotency cache.
type recorder struct {
	http.ResponseWriter
	code  int
	buf   bytes.Buffer
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.wrote, r.code = true, code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

// Idempotency keys are kept in memory on the node that received the
// request, bounded in number and age, to replay the exact answer; they also
// travel with the write (idempotency_key) and are replicated, so a retry
// through another node, or after a restart or failover, does not act again
// and is answered with the incident and Idempotent-Replayed: true.
const (
	maxIdempotencyKeys = 10000
	idempotencyTTL     = 24 * time.Hour
)

type idemEntry struct {
	key    string
	digest [32]byte
	done   bool
	code   int
	header http.Header
	body   []byte
	at     time.Time
	elem   *list.Element
}

type idempotencyCache struct {
	mu    sync.Mutex
	byKey map[string]*idemEntry
	lru   *list.List // front: newest
}

func newIdempotencyCache() *idempotencyCache {
	return &idempotencyCache{byKey: map[string]*idemEntry{}, lru: list.New()}
}

// begin returns the entry for key and whether the caller owns it (first use).
func (c *idempotencyCache) begin(key string, digest [32]byte) (*idemEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if e := c.byKey[key]; e != nil && now.Sub(e.at) < idempotencyTTL {
		cp := *e
		return &cp, false
	} else if e != nil {
		c.lru.Remove(e.elem)
		delete(c.byKey, key)
	}
	e := &idemEntry{key: key, digest: digest, at: now}
	e.elem = c.lru.PushFront(e)
	c.byKey[key] = e
	for c.lru.Len() > maxIdempotencyKeys {
		old := c.lru.Remove(c.lru.Back()).(*idemEntry)
		delete(c.byKey, old.key)
	}
	return e, true
}

// finish records the answer; transient failures (5xx, 408, 409, 425, 429)
// release the key so that a retry acts.
func (c *idempotencyCache) finish(key string, code int, header http.Header, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byKey[key]
	if e == nil {
		return
	}
	if code >= 500 || code == http.StatusRequestTimeout || code == http.StatusConflict || code == http.StatusTooEarly || code == http.StatusTooManyRequests {
		c.lru.Remove(e.elem)
		delete(c.byKey, key)
		return
	}
	keep := http.Header{}
	for _, k := range []string{"Content-Type", "Etag"} {
		if v := header.Values(k); len(v) > 0 {
			keep[k] = v
		}
	}
	e.done, e.code, e.header, e.body = true, code, keep, body
}
