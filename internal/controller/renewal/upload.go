package renewal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/preflight"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

// MaxUploadBytes bounds each uploaded file (a PFX with its chain is a few KiB).
const MaxUploadBytes = 256 << 10

// ErrBadRequest wraps what is wrong with a request (the API answers
// InvalidArgument).
var ErrBadRequest = errors.New("renewal pre-flight")

// ParseUpload reads the uploaded certificate (and optional key file) with
// the agent's parsers. The password opens a PFX; it is neither kept nor
// part of any error.
func ParseUpload(ctx context.Context, req *mxv1.PreflightCertificateRequest) (certstore.Contents, preflight.KeySource, error) {
	if len(req.GetCertificate()) == 0 {
		return certstore.Contents{}, "", fmt.Errorf("%w: certificate is required (PEM, DER/CER or PFX)", ErrBadRequest)
	}
	if len(req.GetCertificate()) > MaxUploadBytes || len(req.GetKey()) > MaxUploadBytes {
		return certstore.Contents{}, "", fmt.Errorf("%w: certificate and key: at most %d bytes each", ErrBadRequest, MaxUploadBytes)
	}
	if len(req.GetSite()) > 128 || len(req.GetFileName()) > 255 {
		return certstore.Contents{}, "", fmt.Errorf("%w: site at most 128, file_name at most 255 characters", ErrBadRequest)
	}
	ks, ok := preflight.ParseKeySource(req.GetKeySource())
	if !ok {
		return certstore.Contents{}, "", fmt.Errorf("%w: key_source %q: want file, request or none", ErrBadRequest, req.GetKeySource())
	}
	name := FileName(req.GetFileName())
	files := []certstore.Data{{Name: name, Bytes: req.GetCertificate()}}
	if len(req.GetKey()) > 0 {
		files = append(files, certstore.Data{Name: "key.pem", Bytes: req.GetKey()})
	}
	var pw []string
	if req.GetPassword() != "" {
		pw = []string{req.GetPassword()}
	}
	c, err := certstore.ReadData(ctx, files, certstore.Options{PFXPasswords: pw, MaxFileBytes: MaxUploadBytes})
	if err != nil {
		return certstore.Contents{}, "", err
	}
	return c, ks, nil
}

// FileName keeps the base name of what the client sent (the plan imports
// it from C:\Temp\); "" becomes new.pfx.
func FileName(s string) string {
	s = filepath.Base(strings.ReplaceAll(strings.TrimSpace(s), `\`, "/"))
	if s == "" || s == "." || s == "/" {
		return "new.pfx"
	}
	return s
}

// FromState fills the request's agents and connector check results from
// the controller's state; scope limits both to one site (a site-scoped
// token), "" is the whole fleet.
func FromState(st *store.State, scope string, req *Request) {
	req.Agents = st.Agents(scope)
	req.Results, _ = st.Results(store.ResultFilter{Check: ConnectorCheck, Site: scope}, store.ResultKey{}, math.MaxInt)
}
