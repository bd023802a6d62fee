package lab

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// RevocationResponder serves a CA's revocation status on loopback: an OCSP
// responder (RFC 6960, POST and GET) at OCSPURL and a CRL (DER) at CRLURL,
// signed by the CA itself. Issue certificates with
// IssueOptions{OCSPServer: []string{r.OCSPURL()}, CRLDistributionPoints:
// []string{r.CRLURL()}} and Revoke them to test revocation checking. It
// owns its HTTP server; Close stops it.
type RevocationResponder struct {
	ca   *CA
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	base string

	mu      sync.Mutex
	revoked map[string]revokedCert // by serial (decimal)
	ocspOff bool

	ocspRequests, crlRequests atomic.Int64
}

type revokedCert struct {
	serial *big.Int
	at     time.Time
	reason int
}

// NewRevocationResponder starts a responder for ca on 127.0.0.1.
func NewRevocationResponder(ca *CA) (*RevocationResponder, error) {
	if ca == nil {
		return nil, errors.New("lab: revocation responder: nil CA")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab: revocation responder: %w", err)
	}
	r := &RevocationResponder{ca: ca, ln: ln, done: make(chan struct{}), base: "http://" + ln.Addr().String(), revoked: map[string]revokedCert{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/ocsp", r.serveOCSP)
	mux.HandleFunc("/ocsp/", r.serveOCSP)
	mux.HandleFunc("/crl", r.serveCRL)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// OCSPURL is the responder's OCSP URL (for the AIA extension).
func (r *RevocationResponder) OCSPURL() string { return r.base + "/ocsp" }

// CRLURL is the responder's CRL URL (for the CDP extension).
func (r *RevocationResponder) CRLURL() string { return r.base + "/crl" }

// Issue issues a leaf under the responder's CA whose AIA OCSP and CRL
// distribution point name this responder, unless opts names others (an
// empty non-nil list names none).
func (r *RevocationResponder) Issue(opts IssueOptions) (*Issued, error) {
	if opts.OCSPServer == nil {
		opts.OCSPServer = []string{r.OCSPURL()}
	}
	if opts.CRLDistributionPoints == nil {
		opts.CRLDistributionPoints = []string{r.CRLURL()}
	}
	return r.ca.Issue(opts)
}

// Revoke marks cert revoked from at with an RFC 5280 reason code
// (ocsp.KeyCompromise, ocsp.Superseded, ...).
func (r *RevocationResponder) Revoke(cert *x509.Certificate, at time.Time, reason int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[cert.SerialNumber.String()] = revokedCert{serial: cert.SerialNumber, at: at, reason: reason}
}

// SetOCSPDown makes the OCSP responder answer 503 (the CRL still answers),
// as an overloaded or blocked responder would.
func (r *RevocationResponder) SetOCSPDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ocspOff = down
}

// Requests counts the OCSP and CRL requests served so far.
func (r *RevocationResponder) Requests() (ocspRequests, crlRequests int64) {
	return r.ocspRequests.Load(), r.crlRequests.Load()
}

// Staple returns a current OCSP response for cert, to staple to a handshake
// (ServerOptions.OCSPStaple).
func (r *RevocationResponder) Staple(cert *x509.Certificate) ([]byte, error) {
	return r.response(cert.SerialNumber)
}

func (r *RevocationResponder) response(serial *big.Int) ([]byte, error) {
	now := time.Now()
	tpl := ocsp.Response{Status: ocsp.Good, SerialNumber: serial, ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	r.mu.Lock()
	if rc, ok := r.revoked[serial.String()]; ok {
		tpl.Status, tpl.RevokedAt, tpl.RevocationReason = ocsp.Revoked, rc.at, rc.reason
	}
	r.mu.Unlock()
	der, err := ocsp.CreateResponse(r.ca.Cert, r.ca.Cert, tpl, r.ca.Key)
	if err != nil {
		return nil, fmt.Errorf("lab: ocsp response: %w", err)
	}
	return der, nil
}

func (r *RevocationResponder) serveOCSP(w http.ResponseWriter, req *http.Request) {
	r.ocspRequests.Add(1)
	r.mu.Lock()
	off := r.ocspOff
	r.mu.Unlock()
	if off {
		http.Error(w, "responder unavailable", http.StatusServiceUnavailable)
		return
	}
	var body []byte
	var err error
	switch req.Method {
	case http.MethodPost:
		body, err = io.ReadAll(io.LimitReader(req.Body, 64<<10))
	case http.MethodGet:
		body, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(req.URL.Path, "/ocsp/"))
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q, err := ocsp.ParseRequest(body)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	der, err := r.response(q.SerialNumber)
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(der)
}

func (r *RevocationResponder) serveCRL(w http.ResponseWriter, _ *http.Request) {
	n := r.crlRequests.Add(1)
	now := time.Now()
	rl := &x509.RevocationList{Number: big.NewInt(n), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour)}
	r.mu.Lock()
	for _, rc := range r.revoked {
		rl.RevokedCertificateEntries = append(rl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: rc.serial, RevocationTime: rc.at, ReasonCode: rc.reason})
	}
	r.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, rl, r.ca.Cert, r.ca.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}

// Close stops the responder and waits for its server goroutine.
func (r *RevocationResponder) Close() error {
	err := r.srv.Close()
	<-r.done
	return err
}
