package renewal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// MaxUploadBytes bounds the uploaded certificate (a chain is a few KiB).
const MaxUploadBytes = 256 << 10

// ErrBadRequest wraps what is wrong with a request (the API answers
// InvalidArgument).
var ErrBadRequest = errors.New("renewal pre-flight")

// Key statements (PreflightCertificateRequest.key_source): the controller
// never receives a private key, the caller says where it will be.
const (
	// KeyInPFX: each server imports the certificate with its key from a PFX.
	KeyInPFX = "pfx"
	// KeyFromRequest: the .cer completes a request made on the server.
	KeyFromRequest = "request"
	// KeyNone: there is no key; the import is keyless.
	KeyNone = "none"
)

// statedKey is the KeyDetail of a certificate whose key was stated, not seen.
const statedKey = "stated by the caller: imported with its key from a PFX; the controller never sees the key"

// ParseUpload checks that the upload is a public certificate only (see
// PublicOnly), parses it with the agent's parsers and applies the key
// statement.
func ParseUpload(ctx context.Context, req *mxv1.PreflightCertificateRequest) (certstore.Contents, preflight.KeySource, error) {
	if len(req.GetCertificate()) == 0 {
		return certstore.Contents{}, "", fmt.Errorf("%w: certificate is required (the public certificate as PEM or DER/CER)", ErrBadRequest)
	}
	if len(req.GetCertificate()) > MaxUploadBytes {
		return certstore.Contents{}, "", fmt.Errorf("%w: certificate: at most %d bytes", ErrBadRequest, MaxUploadBytes)
	}
	if len(req.GetSite()) > 128 || len(req.GetFileName()) > 255 {
		return certstore.Contents{}, "", fmt.Errorf("%w: site at most 128, file_name at most 255 characters", ErrBadRequest)
	}
	var ks preflight.KeySource
	switch req.GetKeySource() {
	case KeyInPFX:
		ks = preflight.KeyFromFile
	case KeyFromRequest:
		ks = preflight.KeyFromRequest
	case KeyNone:
		ks = preflight.KeyNone
	default:
		return certstore.Contents{}, "", fmt.Errorf("%w: key_source %q: say where the key will be: pfx (imported with it from a PFX), request (the .cer completes a request made on the server) or none", ErrBadRequest, req.GetKeySource())
	}
	if err := PublicOnly(req.GetCertificate()); err != nil {
		return certstore.Contents{}, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	c, err := certstore.ReadData(ctx, []certstore.Data{{Name: "certificate.pem", Bytes: asPEM(req.GetCertificate())}},
		certstore.Options{MaxFileBytes: MaxUploadBytes})
	if err != nil {
		return certstore.Contents{}, "", err
	}
	for i := range c.Certificates {
		x := &c.Certificates[i]
		x.HasPrivateKey, x.Key, x.KeyDetail, x.KeySource = false, certstore.KeyAbsent, "", ""
		if ks == preflight.KeyFromFile && x.Cert != nil && !x.Cert.IsCA {
			x.HasPrivateKey, x.Key, x.KeyDetail = true, certstore.KeyUsable, statedKey
		}
	}
	return c, ks, nil
}

// ImportFile is the file the plan imports on each server: the base name
// the client sent, with the extension .pfx when the key comes with it
// from a PFX (the .cer uploaded is not what is imported then).
func ImportFile(req *mxv1.PreflightCertificateRequest) string {
	name := FileName(req.GetFileName())
	if ext := strings.ToLower(filepath.Ext(name)); req.GetKeySource() == KeyInPFX && ext != ".pfx" && ext != ".p12" {
		name = strings.TrimSuffix(name, filepath.Ext(name)) + ".pfx"
	}
	return name
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
	req.Scope = scope
}
