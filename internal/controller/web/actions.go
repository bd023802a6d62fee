package web

// Incident actions from the incident page: acknowledge, resolve, attach or
// remove a ticket reference. The dashboard does not write the store itself:
// each form post becomes the same ControllerService call an API client
// makes, with the signed-in user's token as its bearer credential, so the
// API's rules hold unchanged (write scope, leader forwarding, the state
// machine, expected sequence, idempotency keys, the actor being the token's
// name).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// Actions performs incident actions; mxv1.ControllerServiceClient (a
// connection to this node's own gRPC port) implements it.
type Actions interface {
	AcknowledgeIncident(ctx context.Context, in *mxv1.AcknowledgeIncidentRequest, opts ...grpc.CallOption) (*mxv1.AcknowledgeIncidentResponse, error)
	ResolveIncident(ctx context.Context, in *mxv1.ResolveIncidentRequest, opts ...grpc.CallOption) (*mxv1.ResolveIncidentResponse, error)
	UpdateIncidentRefs(ctx context.Context, in *mxv1.UpdateIncidentRefsRequest, opts ...grpc.CallOption) (*mxv1.UpdateIncidentRefsResponse, error)
}

const (
	// maxActionForm bounds an action's form body (a comment is at most
	// 2000 characters in the API).
	maxActionForm = 16 << 10
	// actionTimeout bounds one action (forwarding to the leader and a raft
	// commit included).
	actionTimeout = 20 * time.Second
	csrfField     = "csrf"
)

// csrfToken is the value every action form carries: an HMAC of a fixed
// label keyed with the session's API token. A cross-site page cannot read
// it (it never sees the token or the page), it needs no server-side state,
// and every node of the cluster computes the same value, so a form rendered
// by one node can be posted to another behind a load balancer. In insecure
// mode there is no token (and the API is open anyway); the Origin check
// still applies.
func csrfToken(rawToken string) string {
	m := hmac.New(sha256.New, []byte("mxprobe-dashboard-csrf\x00"+rawToken))
	m.Write([]byte("incident actions v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// actionForm is what the incident page needs to draw the action forms.
type actionForm struct {
	Enabled    bool
	CSRF       string
	Key        string // idempotency key of this rendering: a double submit is one action
	NeedsActor bool   // insecure mode: nobody is signed in, the form asks for a name
	CanAck     bool
	CanResolve bool
	Sequence   uint64
	Done       string
	Error      string
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "ui-" + base64.RawURLEncoding.EncodeToString(b)
}

func (h *Handler) actionFormFor(r *http.Request, inc *mxv1.Incident) actionForm {
	st := inc.GetState()
	return actionForm{Enabled: h.cfg.Actions != nil, CSRF: csrfToken(rawTokenOf(r)), Key: newKey(), NeedsActor: h.cfg.Insecure,
		CanAck:     st == mxv1.IncidentState_INCIDENT_STATE_OPEN,
		CanResolve: incident.Active(st),
		Sequence:   inc.GetSequence(), Done: doneMessage(r.URL.Query().Get("done"))}
}

func doneMessage(d string) string {
	switch d {
	case "acknowledged":
		return "Acknowledged: the incident stays open until its findings are clean; notifications follow."
	case "resolved":
		return "Resolved. If the findings persist, the incident reopens."
	case "refs":
		return "Ticket references saved."
	}
	return ""
}

// action handles POST /incidents/{id}/{acknowledge,resolve,refs}. The
// token was checked by require before the body is read; then the Origin
// (same site only), the body size and the CSRF field.
func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		http.Error(w, "cross-origin action refused", http.StatusForbidden)
		return
	}
	if h.cfg.Actions == nil {
		http.Error(w, "actions are not available on this dashboard", http.StatusNotImplemented)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxActionForm)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "form too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	raw := rawTokenOf(r)
	if !hmac.Equal([]byte(r.PostForm.Get(csrfField)), []byte(csrfToken(raw))) {
		http.Error(w, "missing or wrong form token (reload the page)", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	f := r.PostForm
	seq, _ := strconv.ParseUint(f.Get("sequence"), 10, 64)
	comment := strings.TrimSpace(f.Get("comment"))
	actor := ""
	if h.cfg.Insecure {
		actor = strings.TrimSpace(f.Get("actor"))
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	if !h.cfg.Insecure {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+raw)
	}
	var inc *mxv1.Incident
	var err error
	var done string
	switch r.PathValue("action") {
	case "acknowledge":
		var resp *mxv1.AcknowledgeIncidentResponse
		resp, err = h.cfg.Actions.AcknowledgeIncident(ctx, &mxv1.AcknowledgeIncidentRequest{Id: id, Actor: actor, Comment: comment,
			ExpectedSequence: seq, IdempotencyKey: f.Get("key")})
		inc, done = resp.GetIncident(), "acknowledged"
	case "resolve":
		var resp *mxv1.ResolveIncidentResponse
		resp, err = h.cfg.Actions.ResolveIncident(ctx, &mxv1.ResolveIncidentRequest{Id: id, Actor: actor, Comment: comment,
			ExpectedSequence: seq, IdempotencyKey: f.Get("key")})
		inc, done = resp.GetIncident(), "resolved"
	case "refs":
		system := strings.ToLower(strings.TrimSpace(f.Get("system")))
		ref := strings.TrimSpace(f.Get("ref"))
		if f.Get("remove") != "" {
			ref = ""
		} else if ref == "" {
			h.actionFailed(w, r, id, http.StatusUnprocessableEntity, "Enter the ticket reference (for example INC0012345).")
			return
		}
		var resp *mxv1.UpdateIncidentRefsResponse
		resp, err = h.cfg.Actions.UpdateIncidentRefs(ctx, &mxv1.UpdateIncidentRefsRequest{Id: id, ExternalRefs: map[string]string{system: ref},
			Actor: actor, Comment: comment, ExpectedSequence: seq, IdempotencyKey: f.Get("key")})
		inc, done = resp.GetIncident(), "refs"
	default:
		h.renderError(w, r, http.StatusNotFound, "No such action.")
		return
	}
	if err != nil {
		code, msg := actionError(err)
		h.actionFailed(w, r, id, code, msg)
		return
	}
	if inc.GetId() != "" {
		id = inc.GetId()
	}
	http.Redirect(w, r, "/incidents/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}

// actionError turns the API's answer into an HTTP status and a sentence
// for the person who pressed the button.
func actionError(err error) (int, string) {
	st, _ := status.FromError(err)
	msg := st.Message()
	switch st.Code() {
	case codes.PermissionDenied:
		return http.StatusForbidden, "Your token may only read: acknowledging, resolving and tickets need a token with the write scope. (" + msg + ")"
	case codes.Unauthenticated:
		return http.StatusUnauthorized, "Your sign-in is no longer valid: sign in again. (" + msg + ")"
	case codes.Aborted:
		return http.StatusConflict, "The incident changed since this page was loaded; review it and try again. (" + msg + ")"
	case codes.FailedPrecondition:
		return http.StatusConflict, "Not possible in the incident's current state. (" + msg + ")"
	case codes.InvalidArgument:
		return http.StatusUnprocessableEntity, msg
	case codes.NotFound:
		return http.StatusNotFound, "No such incident (it may have been dropped after its retention). (" + msg + ")"
	case codes.Unavailable, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable, "The cluster has no reachable leader right now; try again in a moment. (" + msg + ")"
	}
	return http.StatusBadGateway, "The action failed: " + msg
}

// actionFailed renders the incident page again with the error above the
// forms (or the error page when the incident is unknown here).
func (h *Handler) actionFailed(w http.ResponseWriter, r *http.Request, id string, code int, msg string) {
	if h.cfg.State.Incident(id) == nil {
		h.renderError(w, r, code, msg)
		return
	}
	h.renderIncident(w, r, id, code, msg)
}
