package certstore

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
	"software.sslmate.com/src/go-pkcs12"
)

// parsePFX decodes a PKCS#12 file, trying each configured password and
// then the empty password. The private key (if any) is reduced to its
// public half immediately.
//
// Honesty rules for a PKCS#12 file that cannot be opened (wrong password,
// corrupt, hostile parameters): it is reported as a Problem naming the file
// and recorded as opaque key material. Its certificates are invisible (they
// are normally encrypted under the same password), so no certificate is
// declared KeyUnusable on the strength of a guess; instead certificates for
// which no readable key was found are reported KeyUnknown rather than
// KeyAbsent, because the unopened file may well hold their key.
func (r *fileResult) parsePFX(name string, data []byte, po parseOptions) {
	if err := checkPFXIterations(data, po.maxIterations); err != nil {
		r.problems = append(r.problems, Problem{Source: name, Err: err})
		r.opaque = append(r.opaque, name+" (PKCS#12 not opened)")
		return
	}

	passwords := make([]string, 0, len(po.passwords)+1)
	seen := make(map[string]bool, len(po.passwords)+1)
	for _, p := range append(append([]string(nil), po.passwords...), "") {
		if !seen[p] {
			seen[p] = true
			passwords = append(passwords, p)
		}
	}

	var lastErr error
	for _, pw := range passwords {
		key, leaf, cas, err := decodePFX(data, pw)
		if err == nil {
			r.addPFXContents(name, key, leaf, cas)
			return
		}
		lastErr = err
		if !isPasswordError(err) {
			break // structural error: another password will not help
		}
	}
	if isPasswordError(lastErr) {
		// Never name the passwords, only how many were tried.
		// passwords always holds "" exactly once.
		r.problems = append(r.problems, problemf(name, ErrPFXPassword,
			"tried %d configured password(s) and the empty password; put the right one in the agent's pfx_password_file (or MXPROBE_PFX_PASSWORD)", len(passwords)-1))
	} else {
		r.problems = append(r.problems, problemf(name, ErrMalformed, "PKCS#12: %v", sanitizePFXError(lastErr)))
	}
	r.opaque = append(r.opaque, name+" (PKCS#12 not opened)")
}

// decodePFX wraps go-pkcs12: a PFX with a key via DecodeChain, a
// certificates-only (Java trust store) PFX via DecodeTrustStore. It recovers
// from panics in the decoder so a hostile file cannot crash the agent.
func decodePFX(data []byte, password string) (key any, leaf *x509.Certificate, cas []*x509.Certificate, err error) {
	defer func() {
		if p := recover(); p != nil {
			key, leaf, cas = nil, nil, nil
			err = fmt.Errorf("PKCS#12 decoder failed: %v", p)
		}
	}()
	key, leaf, cas, err = pkcs12.DecodeChain(data, password)
	if err != nil && strings.Contains(err.Error(), "private key missing") {
		if certs, err2 := pkcs12.DecodeTrustStore(data, password); err2 == nil && len(certs) > 0 {
			return nil, certs[0], certs[1:], nil
		}
		return nil, nil, nil, errors.New("PKCS#12 file holds certificates but no private key, and is not a trust store; its certificates could not be read")
	}
	return key, leaf, cas, err
}

// isPasswordError reports whether err from go-pkcs12 means "wrong password".
func isPasswordError(err error) bool {
	return errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption)
}

// sanitizePFXError keeps decoder messages to one line.
func sanitizePFXError(err error) string {
	if err == nil {
		return "unknown error"
	}
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// addPFXContents records a decoded PKCS#12 file. The leaf is first, so
// the co-location rule in assemble treats a key that matches none of the
// file's certificates as "claimed by the leaf but unusable", which is what
// Windows would do after importing such a file.
func (r *fileResult) addPFXContents(name string, key any, leaf *x509.Certificate, cas []*x509.Certificate) {
	for _, c := range append([]*x509.Certificate{leaf}, cas...) {
		if c != nil {
			r.certs = append(r.certs, parsedCert{cert: c, thumb: thumbprint.OfDER(c.Raw), keyID: certKeyID(c)})
		}
	}
	if key == nil {
		return
	}
	id, err := privateKeyID(key)
	if err != nil {
		r.problems = append(r.problems, problemf(name, ErrMalformed, "PKCS#12 private key: %v", err))
		r.opaque = append(r.opaque, name+" (unsupported PKCS#12 key type)")
		return
	}
	r.keys = append(r.keys, parsedKey{id: id})
}

// checkPFXIterations walks the unencrypted ASN.1 structure of a PFX and
// refuses it when any key-derivation iteration count exceeds max.
// go-pkcs12 has no such limit, and a PFX asking for 2^31 PBKDF rounds would
// pin a CPU for hours. Every PKCS#12 iteration count (MacData, PBEParameter,
// PBKDF2-params) is an INTEGER immediately following an OCTET STRING salt in
// the same SEQUENCE, which is what is looked for. Content encrypted inside
// the file is not visible here; it is only reached with a valid password and
// its own parameters are rarely nested further (documented residual risk).
func checkPFXIterations(data []byte, max int) error {
	// Every visited element starts at a distinct byte offset, so len(data)
	// bounds the walk; the budget is only a second safety net.
	w := iterWalker{max: int64(max), budget: len(data) + 16}
	w.walk(data, 0)
	if w.over > 0 {
		return fmt.Errorf("%w: a key-derivation iteration count of %s exceeds the limit of %d; file not decrypted", ErrPFXSuspicious, w.overStr, max)
	}
	return nil
}

type iterWalker struct {
	max     int64
	budget  int // elements left to visit: bounds work on hostile input
	over    int
	overStr string
}

func (w *iterWalker) walk(data []byte, depth int) {
	if depth > 24 {
		return
	}
	rest := data
	prevOctet := false
	for len(rest) > 0 && w.budget > 0 {
		w.budget--
		var v asn1.RawValue
		var err error
		rest, err = asn1.Unmarshal(rest, &v)
		if err != nil {
			return
		}
		if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagInteger && prevOctet {
			w.checkInt(v.Bytes)
		}
		prevOctet = v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString
		switch {
		case v.IsCompound:
			w.walk(v.Bytes, depth+1)
		case prevOctet && len(v.Bytes) > 1 && v.Bytes[0] == 0x30:
			// OCTET STRING wrapping DER (authSafe content, bag values).
			w.walk(v.Bytes, depth+1)
		}
	}
}

func (w *iterWalker) checkInt(b []byte) {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		return // negative: go-pkcs12 will reject it
	}
	if n.Cmp(big.NewInt(w.max)) > 0 {
		w.over++
		if w.overStr == "" {
			w.overStr = n.String()
			if len(w.overStr) > 24 {
				w.overStr = w.overStr[:24] + "..."
			}
		}
	}
}
