package smtpprobe

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/exchange"
)

// VerifyKind classifies one certificate problem.
type VerifyKind string

// Verification problem kinds.
const (
	VerifyExpired     VerifyKind = "expired"
	VerifyNotYetValid VerifyKind = "not-yet-valid"
	// VerifySelfSigned: a self-signed leaf not in the roots (catalog E, H).
	VerifySelfSigned VerifyKind = "self-signed"
	// VerifyIncompleteChain: the presented chain stops at a certificate that
	// is not self-signed and whose issuer is not trusted (a missing
	// intermediate; Windows' CERT_TRUST_IS_PARTIAL_CHAIN). A leaf issued
	// directly by an unknown root that the server does not send also lands
	// here, as on Windows.
	VerifyIncompleteChain VerifyKind = "incomplete-chain"
	// VerifyUnknownAuthority: the chain ends in a root that is not trusted.
	VerifyUnknownAuthority VerifyKind = "unknown-authority"
	VerifyNameMismatch     VerifyKind = "name-mismatch"
	// VerifyWeakSignature: a non-root certificate is signed with MD5 or
	// SHA-1 (Go refuses to verify such chains).
	VerifyWeakSignature VerifyKind = "weak-signature"
	// VerifyWeakKey: the leaf has an RSA key shorter than 2048 bits.
	VerifyWeakKey VerifyKind = "weak-key"
	// VerifyBadUsage: the chain does not allow server authentication.
	VerifyBadUsage VerifyKind = "bad-usage"
	VerifyOther    VerifyKind = "other"
)

// MinRSABits is the smallest RSA key not reported as VerifyWeakKey.
const MinRSABits = 2048

// VerifyProblem is one thing wrong with the presented certificate.
type VerifyProblem struct {
	Kind VerifyKind
	Err  error
}

// VerifyError lists every problem found verifying a presented chain, the
// most fundamental first (validity, chain, name, strength).
type VerifyError struct {
	Problems []VerifyProblem
}

func (e *VerifyError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = string(p.Kind) + ": " + p.Err.Error()
	}
	return "certificate verification failed: " + strings.Join(parts, "; ")
}

// Unwrap exposes the underlying x509 errors to errors.As.
func (e *VerifyError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p.Err
	}
	return errs
}

// Kind is the first (most fundamental) problem's kind.
func (e *VerifyError) Kind() VerifyKind {
	if e == nil || len(e.Problems) == 0 {
		return ""
	}
	return e.Problems[0].Kind
}

// Has reports whether any problem is of kind k.
func (e *VerifyError) Has(k VerifyKind) bool {
	if e == nil {
		return false
	}
	for _, p := range e.Problems {
		if p.Kind == k {
			return true
		}
	}
	return false
}

// Kinds lists the problem kinds in order.
func (e *VerifyError) Kinds() []VerifyKind {
	if e == nil {
		return nil
	}
	ks := make([]VerifyKind, len(e.Problems))
	for i, p := range e.Problems {
		ks[i] = p.Kind
	}
	return ks
}

// VerifyChain checks a presented chain (leaf first) against roots (nil:
// system roots) and name at time now, and classifies every problem. Each
// aspect is checked on its own, so an expired certificate for the wrong
// name reports both; the chain is built at a time inside the leaf's
// validity so expiry does not hide a chain problem. It returns nil when
// nothing is wrong.
func VerifyChain(chain []*x509.Certificate, roots *x509.CertPool, name string, now time.Time) *VerifyError {
	if len(chain) == 0 {
		return &VerifyError{Problems: []VerifyProblem{{VerifyOther, errors.New("no certificate presented")}}}
	}
	var ps []VerifyProblem
	add := func(k VerifyKind, err error) { ps = append(ps, VerifyProblem{k, err}) }
	leaf := chain[0]
	at := now
	switch {
	case now.Before(leaf.NotBefore):
		add(VerifyNotYetValid, x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired,
			Detail: fmt.Sprintf("current time %s is before %s", now.UTC().Format(time.RFC3339), leaf.NotBefore.UTC().Format(time.RFC3339))})
		at = midpoint(leaf)
	case now.After(leaf.NotAfter):
		add(VerifyExpired, x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired,
			Detail: fmt.Sprintf("current time %s is after %s", now.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))})
		at = midpoint(leaf)
	}
	weakSig := weakSignature(chain)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		var ua x509.UnknownAuthorityError
		if !(weakSig != nil && errors.As(err, &ua)) { // a weak signature already explains it
			add(classifyChainError(err, chain, at), err)
		}
	}
	if name != "" {
		if err := leaf.VerifyHostname(name); err != nil {
			add(VerifyNameMismatch, err)
		}
	}
	if weakSig != nil {
		add(VerifyWeakSignature, weakSig)
	}
	if alg, bits := keyInfo(leaf); alg == "RSA" && bits < MinRSABits {
		add(VerifyWeakKey, fmt.Errorf("leaf has an RSA-%d key (minimum %d)", bits, MinRSABits))
	}
	if len(ps) == 0 {
		return nil
	}
	return &VerifyError{Problems: ps}
}

func classifyChainError(err error, chain []*x509.Certificate, at time.Time) VerifyKind {
	var (
		ci x509.CertificateInvalidError
		ua x509.UnknownAuthorityError
		ia x509.InsecureAlgorithmError
	)
	switch {
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			// An issuer is outside its validity at a time the leaf is valid.
			if ci.Cert != nil && at.Before(ci.Cert.NotBefore) {
				return VerifyNotYetValid
			}
			return VerifyExpired
		case x509.IncompatibleUsage:
			return VerifyBadUsage
		}
		return VerifyOther
	case errors.As(err, &ua):
		top := chain[len(chain)-1]
		switch {
		case len(chain) == 1 && exchange.IsSelfSigned(top):
			return VerifySelfSigned
		case !exchange.IsSelfSigned(top):
			return VerifyIncompleteChain
		}
		return VerifyUnknownAuthority
	case errors.As(err, &ia):
		return VerifyWeakSignature
	}
	return VerifyOther
}

func midpoint(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
}

// weakSignature reports an MD5/SHA-1 signature on a non-self-signed member
// of the chain (a root's own signature is never checked).
func weakSignature(chain []*x509.Certificate) error {
	for _, c := range chain {
		if exchange.IsSelfSigned(c) && c.IsCA {
			continue
		}
		switch c.SignatureAlgorithm {
		case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
			return fmt.Errorf("%q is signed with %s", c.Subject.String(), c.SignatureAlgorithm)
		}
	}
	return nil
}

func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}
