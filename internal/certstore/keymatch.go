package certstore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// Keys are matched to certificates by public key, never by file name: a
// pubKeyID is the PKIX (SubjectPublicKeyInfo) DER of the public key as
// re-encoded by crypto/x509, so that two encodings of the same key (RSA
// parameters NULL vs absent, compressed vs uncompressed EC points) compare
// equal.
type pubKeyID string

// publicKeyID canonicalises pub.
func publicKeyID(pub crypto.PublicKey) (pubKeyID, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return pubKeyID(der), nil
}

// certKeyID is the pubKeyID of c's public key. For key types crypto/x509
// cannot represent it falls back to the raw SubjectPublicKeyInfo, which then
// simply matches no private key.
func certKeyID(c *x509.Certificate) pubKeyID {
	if c.PublicKey != nil {
		if id, err := publicKeyID(c.PublicKey); err == nil {
			return id
		}
	}
	return pubKeyID(c.RawSubjectPublicKeyInfo)
}

// privateKeyID returns the pubKeyID of a parsed private key.
func privateKeyID(key any) (pubKeyID, error) {
	signer, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return "", fmt.Errorf("unsupported private key type %T", key)
	}
	return publicKeyID(signer.Public())
}

// parsePrivateKeyDER parses an unencrypted private key in any of the three
// common DER encodings (PKCS#8, PKCS#1 RSA, SEC 1 EC), whatever the PEM
// label said.
//
//   - (id, nil): a usable key for public key id.
//   - (id, err): the key is broken (fails crypto/x509's consistency checks)
//     but its public half could still be recovered, so the certificate it
//     belongs to can be named: that certificate's key is KeyUnusable.
//   - ("", err): nothing can be recovered.
func parsePrivateKeyDER(der []byte) (pubKeyID, error) {
	var firstErr error
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return privateKeyID(k)
	} else {
		firstErr = err
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return privateKeyID(k)
	} else if !isWrongFormat(err) {
		firstErr = err
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return privateKeyID(k)
	} else if !isWrongFormat(err) {
		firstErr = err
	}
	if id, ok := salvagePublicKey(der); ok {
		return id, fmt.Errorf("private key is corrupt: %v", firstErr)
	}
	return "", firstErr
}

// isWrongFormat reports whether err from a crypto/x509 key parser just means
// "this is a different encoding" (so the PKCS#8 error is the more useful one).
func isWrongFormat(err error) bool {
	var se asn1.StructuralError
	var syn asn1.SyntaxError
	return errors.As(err, &se) || errors.As(err, &syn)
}

var (
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
)

// salvagePublicKey recovers the public half of a private key that
// crypto/x509 refused (for example an RSA key whose primes were corrupted):
// PKCS#1 carries n and e, SEC 1 usually carries the public point. It never
// returns a key that crypto/x509 would not itself accept as a public key.
func salvagePublicKey(der []byte) (pubKeyID, bool) {
	kids, ok := derChildren(der)
	if !ok || len(kids) < 2 {
		return "", false
	}
	// PKCS#8: version, AlgorithmIdentifier, OCTET STRING privateKey.
	if len(kids) >= 3 && kids[1].Tag == asn1.TagSequence && kids[2].Tag == asn1.TagOctetString && kids[2].Class == asn1.ClassUniversal {
		var alg pkix.AlgorithmIdentifier
		if _, err := asn1.Unmarshal(kids[1].FullBytes, &alg); err != nil {
			return "", false
		}
		switch {
		case alg.Algorithm.Equal(oidRSAEncryption):
			return salvagePKCS1(kids[2].Bytes)
		case alg.Algorithm.Equal(oidECPublicKey):
			var curve asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &curve); err != nil {
				return "", false
			}
			return salvageSEC1(kids[2].Bytes, curve)
		}
		return "", false
	}
	if id, ok := salvagePKCS1(der); ok {
		return id, true
	}
	return salvageSEC1(der, nil)
}

// salvagePKCS1 reads n and e from an RSAPrivateKey without validating the
// private part.
func salvagePKCS1(der []byte) (pubKeyID, bool) {
	kids, ok := derChildren(der)
	if !ok || len(kids) < 3 {
		return "", false
	}
	var n, e *big.Int
	if _, err := asn1.Unmarshal(kids[1].FullBytes, &n); err != nil {
		return "", false
	}
	if _, err := asn1.Unmarshal(kids[2].FullBytes, &e); err != nil {
		return "", false
	}
	if n.Sign() <= 0 || n.BitLen() < 512 || n.BitLen() > 16384 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return "", false
	}
	id, err := publicKeyID(&rsa.PublicKey{N: n, E: int(e.Int64())})
	return id, err == nil
}

// salvageSEC1 reads the optional [1] publicKey of an ECPrivateKey.
func salvageSEC1(der []byte, curve asn1.ObjectIdentifier) (pubKeyID, bool) {
	kids, ok := derChildren(der)
	if !ok || len(kids) < 2 {
		return "", false
	}
	var point asn1.BitString
	havePoint := false
	for _, k := range kids[2:] {
		if k.Class != asn1.ClassContextSpecific {
			continue
		}
		switch k.Tag {
		case 0:
			var oid asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(k.Bytes, &oid); err == nil {
				curve = oid
			}
		case 1:
			if _, err := asn1.Unmarshal(k.Bytes, &point); err == nil {
				havePoint = true
			}
		}
	}
	if !havePoint || curve == nil {
		return "", false
	}
	curveDER, err := asn1.Marshal(curve)
	if err != nil {
		return "", false
	}
	spki, err := asn1.Marshal(struct {
		Alg pkix.AlgorithmIdentifier
		Key asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: curveDER}}, point})
	if err != nil {
		return "", false
	}
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return "", false
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		return "", false
	}
	id, err := publicKeyID(pub)
	return id, err == nil
}

// derChildren splits the contents of a DER SEQUENCE into its elements.
func derChildren(der []byte) ([]asn1.RawValue, bool) {
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(der, &outer); err != nil || !outer.IsCompound {
		return nil, false
	}
	var kids []asn1.RawValue
	rest := outer.Bytes
	for len(rest) > 0 {
		var v asn1.RawValue
		var err error
		rest, err = asn1.Unmarshal(rest, &v)
		if err != nil {
			return nil, false
		}
		kids = append(kids, v)
	}
	return kids, true
}

// compile-time check that the key types we expect expose Public().
var (
	_ interface{ Public() crypto.PublicKey } = (*rsa.PrivateKey)(nil)
	_ interface{ Public() crypto.PublicKey } = (*ecdsa.PrivateKey)(nil)
	_ interface{ Public() crypto.PublicKey } = ed25519.PrivateKey(nil)
)
