package web

// The renewal page (/preflight): a PKI admin uploads the renewed
// certificate's public part and says where its key will be; the page shows
// what the fleet pre-flight (PreflightCertificate, docs/preflight.md)
// predicts for every server the token may see: the verdict, the fleet
// rules (hybrid Edge identity before and after, the rollout), each
// server's connectors in the three states and its renewal plan. The
// dashboard calls the API with the signed-in user's token, as incident
// actions do, so the API's rules apply unchanged (its site scope, the
// refusal of private keys, the upload bound). Nothing is stored: the
// answer is rendered once, without live updates.

import (
	"context"
	"crypto/hmac"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Preflight runs the fleet pre-flight; mxv1.ControllerServiceClient
// implements it.
type Preflight interface {
	PreflightCertificate(ctx context.Context, in *mxv1.PreflightCertificateRequest, opts ...grpc.CallOption) (*mxv1.PreflightCertificateResponse, error)
}

const (
	// maxPreflightCert bounds the uploaded certificate (the API's bound).
	maxPreflightCert = 256 << 10
	// maxPreflightForm bounds the whole form body.
	maxPreflightForm = maxPreflightCert + 16<<10
	preflightTimeout = 30 * time.Second
)

type preflightForm struct {
	CSRF, Site, KeySource, Error string
	Enabled                      bool
}

type preflightConnector struct {
	C                         *mxv1.PreflightConnector
	Today, Import, Removal    string
	Breaks, Works, Stale, Old bool
}

type preflightAgentView struct {
	A          *mxv1.PreflightAgent
	Connectors []preflightConnector
	Checks     []*mxv1.PreflightCheck // fail, warn, not-checked
	Passed     int
	ID         string // element id prefix
}

type preflightView struct {
	Form   preflightForm
	Resp   *mxv1.PreflightCertificateResponse
	File   string
	Agents []preflightAgentView
	Broken []string // agent ids that break
}

func (h *Handler) preflightForm(r *http.Request) preflightForm {
	return preflightForm{CSRF: csrfToken(rawTokenOf(r)), KeySource: "pfx", Enabled: h.cfg.Preflight != nil}
}

// preflight shows the upload form (GET /preflight).
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "preflight", "Renewal pre-flight", "preflight", preflightView{Form: h.preflightForm(r)})
}

// preflightRun handles POST /preflight: the token was checked by require
// before the body is read; then the Origin, the size and the CSRF field.
func (h *Handler) preflightRun(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	if h.cfg.Preflight == nil {
		http.Error(w, "the pre-flight is not available on this dashboard", http.StatusNotImplemented)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPreflightForm)
	form := h.preflightForm(r)
	fail := func(code int, msg string) {
		form.Error = msg
		h.render(w, r, code, "preflight", "Renewal pre-flight", "preflight", preflightView{Form: form})
	}
	if err := r.ParseMultipartForm(maxPreflightForm); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, "The upload is too large: a certificate with its chain is a few KiB (at most 256 KiB).")
			return
		}
		fail(http.StatusBadRequest, "Bad form: choose the certificate file and send the form again.")
		return
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(csrfToken(rawTokenOf(r)))) {
		http.Error(w, "missing or wrong form token (reload the page)", http.StatusForbidden)
		return
	}
	form.Site, form.KeySource = strings.TrimSpace(r.PostFormValue("site")), r.PostFormValue("key_source")
	f, hdr, err := r.FormFile("certificate")
	if err != nil {
		fail(http.StatusUnprocessableEntity, "Choose the renewed certificate's file (.cer, .crt or .pem: the public certificate).")
		return
	}
	defer f.Close()
	cert, err := io.ReadAll(io.LimitReader(f, maxPreflightCert+1))
	if err != nil || len(cert) > maxPreflightCert {
		fail(http.StatusRequestEntityTooLarge, "The certificate file is larger than 256 KiB.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), preflightTimeout)
	defer cancel()
	if !h.cfg.Insecure {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+rawTokenOf(r))
	}
	resp, err := h.cfg.Preflight.PreflightCertificate(ctx, &mxv1.PreflightCertificateRequest{Certificate: cert, FileName: hdr.Filename, Site: form.Site, KeySource: form.KeySource})
	if err != nil {
		code, msg := preflightError(err)
		fail(code, msg)
		return
	}
	h.render(w, r, http.StatusOK, "preflight", "Renewal pre-flight", "preflight", preflightResult(form, hdr.Filename, resp))
}

func preflightError(err error) (int, string) {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.InvalidArgument:
		return http.StatusUnprocessableEntity, st.Message()
	case codes.PermissionDenied:
		return http.StatusForbidden, st.Message()
	case codes.Unauthenticated:
		return http.StatusUnauthorized, "Your sign-in is no longer valid: sign in again. (" + st.Message() + ")"
	case codes.Unavailable, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable, "The cluster has no reachable leader right now; try again in a moment. (" + st.Message() + ")"
	}
	return http.StatusBadGateway, "The pre-flight failed: " + st.Message()
}

func preflightResult(form preflightForm, file string, resp *mxv1.PreflightCertificateResponse) preflightView {
	v := preflightView{Form: form, Resp: resp, File: file}
	tp := resp.GetNewCertificate().GetThumbprint()
	label := func(s string) string {
		switch {
		case s == "":
			return "none"
		case s == tp:
			return "new"
		case len(s) > 8:
			return s[:8]
		}
		return s
	}
	for i, a := range resp.GetAgents() {
		av := preflightAgentView{A: a, ID: "a" + strconv.Itoa(i)}
		if a.GetBreaks() {
			v.Broken = append(v.Broken, a.GetAgentId())
		}
		for _, c := range a.GetConnectors() {
			av.Connectors = append(av.Connectors, preflightConnector{C: c, Today: label(c.GetToday()), Import: label(c.GetAfterImport()), Removal: label(c.GetAfterRemoval()),
				Breaks: c.GetPredictedOutcome() == "breaks", Works: c.GetOutcome() == "works" || c.GetOutcome() == "fixed", Stale: c.GetOutcome() == "stale",
				Old: c.GetToday() != "" && c.GetToday() != tp && a.GetRollout() != "not-imported"})
		}
		for _, c := range a.GetChecks() {
			if c.GetStatus() == "pass" || c.GetStatus() == "info" {
				av.Passed++
				continue
			}
			av.Checks = append(av.Checks, c)
		}
		v.Agents = append(v.Agents, av)
	}
	return v
}
