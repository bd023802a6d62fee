package certstore

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// parsedCert is one certificate found in a file, with the values the
// assembly step needs precomputed (on the worker goroutine).
type parsedCert struct {
	cert  *x509.Certificate
	thumb string
	keyID pubKeyID
}

// parsedKey is one private key found in a file. Only the public half is
// kept: private key material is dropped as soon as it has been parsed.
type parsedKey struct {
	id  pubKeyID
	err error // nil: usable; non-nil: public key known but private part broken
}

// fileResult is everything one file contributed.
type fileResult struct {
	source string
	certs  []parsedCert
	keys   []parsedKey
	// opaque describes key material that is present but could not be
	// identified (encrypted keys, PKCS#12 files that would not open,
	// unparseable key files): it may belong to any certificate.
	opaque []string
	// problems are this file's Problems, in file order.
	problems []Problem
}

// parseOptions are the parts of Options the parsers need.
type parseOptions struct {
	passwords     []string
	maxIterations int
}

// File-name extensions. They only decide whether an unrecognisable file is
// worth a Problem and which parser is tried first; content always decides.
var (
	certExts = map[string]bool{".pem": true, ".crt": true, ".cer": true, ".der": true, ".cert": true, ".ca-bundle": true}
	keyExts  = map[string]bool{".key": true, ".pk8": true, ".p8": true}
	pfxExts  = map[string]bool{".pfx": true, ".p12": true}
)

// hasCertOrKeyExt reports whether name's extension says it should hold
// certificate or key material.
func hasCertOrKeyExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return certExts[ext] || keyExts[ext] || pfxExts[ext]
}

// parseFile classifies and parses one file's bytes. name is used for the
// Problem source and extension hints only. It never panics and never
// returns an error: everything wrong becomes a Problem.
func parseFile(name string, data []byte, po parseOptions) fileResult {
	r := fileResult{source: name}
	ext := strings.ToLower(filepath.Ext(name))
	switch {
	case bytes.Contains(data, []byte("-----BEGIN ")):
		r.parsePEM(name, data, po)
	case len(data) >= 2 && data[0] == 0x30 && (pfxExts[ext] || looksLikePFX(data)):
		r.parsePFX(name, data, po)
	case len(data) >= 2 && data[0] == 0x30 && (hasCertOrKeyExt(name) || plausibleDER(data)):
		r.parseDER(name, data, ext)
	case hasCertOrKeyExt(name):
		what := "no PEM block, DER structure or PKCS#12 data"
		if len(data) == 0 {
			what = "file is empty"
		}
		r.problems = append(r.problems, problemf(name, ErrUnrecognized, "%s", what))
		if keyExts[ext] || pfxExts[ext] {
			r.opaque = append(r.opaque, name+" (unreadable key file)")
		}
	}
	// Anything else (README, scripts...) is not store content: ignored.
	return r
}

// plausibleDER reports whether data is exactly one DER element, so that
// arbitrary binary files without a certificate extension are not flagged.
func plausibleDER(data []byte) bool {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(data, &v)
	return err == nil && len(rest) == 0 && v.IsCompound
}

// looksLikePFX reports whether data starts like a PFX PDU: SEQUENCE {
// INTEGER 3, SEQUENCE ...}.
func looksLikePFX(data []byte) bool {
	kids, ok := derChildrenPrefix(data, 2)
	if !ok {
		return false
	}
	return kids[0].Tag == asn1.TagInteger && bytes.Equal(kids[0].Bytes, []byte{3}) && kids[1].Tag == asn1.TagSequence
}

// derChildrenPrefix returns the first n children of the outer SEQUENCE of
// data, tolerating a truncated tail after them.
func derChildrenPrefix(data []byte, n int) ([]asn1.RawValue, bool) {
	hdr, ok := derHeaderLen(data)
	if !ok || data[0] != 0x30 {
		return nil, false
	}
	rest := data[hdr:]
	kids := make([]asn1.RawValue, 0, n)
	for len(kids) < n {
		var v asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return nil, false
		}
		kids = append(kids, v)
	}
	return kids, true
}

// derHeaderLen returns the length of the tag+length header of the DER
// element at the start of data (short or long form, up to 4 length bytes).
func derHeaderLen(data []byte) (int, bool) {
	if len(data) < 2 {
		return 0, false
	}
	l := data[1]
	if l < 0x80 {
		return 2, true
	}
	n := int(l & 0x7f)
	if n == 0 || n > 4 || len(data) < 2+n {
		return 0, false
	}
	return 2 + n, true
}

// parsePEM handles every PEM block of a file. Blocks that are not
// certificates or private keys (CSRs, CRLs, parameters) are ignored.
func (r *fileResult) parsePEM(name string, data []byte, po parseOptions) {
	rest := data
	blocks := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		r.pemBlock(name, blocks, b, po)
	}
	markers := bytes.Count(data, []byte("-----BEGIN "))
	if markers > blocks {
		r.problems = append(r.problems, problemf(name, ErrMalformed,
			"%d of %d PEM block(s) are truncated or malformed and were skipped", markers-blocks, markers))
		// A broken block might have been the private key.
		if len(r.keys) == 0 && len(r.opaque) == 0 && bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			r.opaque = append(r.opaque, name+" (malformed PEM private key)")
		}
	}
}

func (r *fileResult) pemBlock(name string, idx int, b *pem.Block, po parseOptions) {
	switch b.Type {
	case "CERTIFICATE", "X509 CERTIFICATE":
		r.addCertDER(name, fmt.Sprintf("PEM block %d (%s)", idx, b.Type), b.Bytes)
	case "TRUSTED CERTIFICATE":
		// OpenSSL "trusted" form: the certificate followed by trust
		// settings; keep the certificate only.
		var v asn1.RawValue
		if _, err := asn1.Unmarshal(b.Bytes, &v); err != nil {
			r.problems = append(r.problems, problemf(name, ErrMalformed, "PEM block %d (%s): %v", idx, b.Type, err))
			return
		}
		r.addCertDER(name, fmt.Sprintf("PEM block %d (%s)", idx, b.Type), v.FullBytes)
	case "PKCS7", "CMS":
		r.addPKCS7(name, fmt.Sprintf("PEM block %d (%s)", idx, b.Type), b.Bytes)
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			r.problems = append(r.problems, problemf(name, ErrEncryptedKey,
				"PEM block %d (%s) is encrypted (legacy Proc-Type encryption); decrypt it or export a PKCS#12 file", idx, b.Type))
			r.opaque = append(r.opaque, name+" (encrypted private key)")
			return
		}
		r.addKeyDER(name, fmt.Sprintf("PEM block %d (%s)", idx, b.Type), b.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		r.problems = append(r.problems, problemf(name, ErrEncryptedKey,
			"PEM block %d (%s) is an encrypted PKCS#8 key; decrypt it or export a PKCS#12 file", idx, b.Type))
		r.opaque = append(r.opaque, name+" (encrypted private key)")
	}
}

// addCertDER parses one DER certificate.
func (r *fileResult) addCertDER(name, what string, der []byte) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		r.problems = append(r.problems, problemf(name, ErrMalformed, "%s: %v", what, err))
		return
	}
	r.certs = append(r.certs, parsedCert{cert: c, thumb: thumbprint.OfDER(c.Raw), keyID: certKeyID(c)})
}

// addKeyDER parses one unencrypted DER private key.
func (r *fileResult) addKeyDER(name, what string, der []byte) {
	id, err := parsePrivateKeyDER(der)
	switch {
	case id != "":
		r.keys = append(r.keys, parsedKey{id: id, err: err})
	default:
		r.problems = append(r.problems, problemf(name, ErrMalformed, "%s: cannot parse private key: %v", what, err))
		r.opaque = append(r.opaque, name+" (unparseable private key)")
	}
}

// parseDER handles a binary file: a certificate, a private key, a PKCS#7
// bundle, or (without a .pfx name) a PKCS#12 file.
func (r *fileResult) parseDER(name string, data []byte, ext string) {
	c, certErr := x509.ParseCertificate(data)
	if certErr == nil {
		r.certs = append(r.certs, parsedCert{cert: c, thumb: thumbprint.OfDER(c.Raw), keyID: certKeyID(c)})
		return
	}
	if id, err := parsePrivateKeyDER(data); id != "" {
		r.keys = append(r.keys, parsedKey{id: id, err: err})
		return
	}
	if isPKCS7(data) {
		r.addPKCS7(name, "PKCS#7 bundle", data)
		return
	}
	if keyExts[ext] {
		r.problems = append(r.problems, problemf(name, ErrMalformed, "cannot parse DER private key"))
		r.opaque = append(r.opaque, name+" (unparseable private key)")
		return
	}
	r.problems = append(r.problems, problemf(name, ErrMalformed, "not a valid DER certificate, private key or PKCS#7 bundle: %v", certErr))
}

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// isPKCS7 reports whether data starts like ContentInfo{signedData}.
func isPKCS7(data []byte) bool {
	kids, ok := derChildrenPrefix(data, 1)
	if !ok {
		return false
	}
	var oid asn1.ObjectIdentifier
	_, err := asn1.Unmarshal(kids[0].FullBytes, &oid)
	return err == nil && oid.Equal(oidSignedData)
}

// addPKCS7 extracts the certificates of a degenerate PKCS#7 SignedData
// (.p7b/.p7c, "certs only"), as Windows exports certificate chains.
func (r *fileResult) addPKCS7(name, what string, der []byte) {
	certs, err := pkcs7Certificates(der)
	if err != nil {
		r.problems = append(r.problems, problemf(name, ErrMalformed, "%s: %v", what, err))
		return
	}
	for i, c := range certs {
		r.addCertDER(name, fmt.Sprintf("%s certificate %d", what, i+1), c)
	}
}

// pkcs7Certificates returns the raw certificates of a SignedData
// ContentInfo:
//
//	ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
//	SignedData  ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo,
//	                           certificates [0] IMPLICIT SET OF Certificate OPTIONAL, ... }
func pkcs7Certificates(der []byte) ([][]byte, error) {
	kids, ok := derChildren(der)
	if !ok || len(kids) < 2 {
		return nil, fmt.Errorf("not a PKCS#7 ContentInfo")
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(kids[0].FullBytes, &oid); err != nil || !oid.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7 content is not SignedData")
	}
	if kids[1].Class != asn1.ClassContextSpecific || kids[1].Tag != 0 {
		return nil, fmt.Errorf("PKCS#7 content missing")
	}
	sd, ok := derChildren(kids[1].Bytes)
	if !ok {
		return nil, fmt.Errorf("PKCS#7 SignedData malformed")
	}
	for _, k := range sd {
		if k.Class == asn1.ClassContextSpecific && k.Tag == 0 && k.IsCompound {
			var out [][]byte
			rest := k.Bytes
			for len(rest) > 0 {
				var c asn1.RawValue
				var err error
				if rest, err = asn1.Unmarshal(rest, &c); err != nil {
					return out, fmt.Errorf("PKCS#7 certificate set malformed: %v", err)
				}
				out = append(out, c.FullBytes)
			}
			return out, nil
		}
	}
	return nil, nil
}
