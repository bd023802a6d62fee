package certstore

import (
	"crypto/rsa"
	"encoding/asn1"
	"math/big"
	"testing"
)

type bigInt = big.Int

var bigOne = big.NewInt(1)

// marshalPKCS1Unchecked encodes an RSA key without the validation
// x509.MarshalPKCS1PrivateKey would apply, to build corrupt keys.
func marshalPKCS1Unchecked(t *testing.T, k *rsa.PrivateKey) []byte {
	t.Helper()
	p, q := k.Primes[0], k.Primes[1]
	one := big.NewInt(1)
	dp := new(big.Int).Mod(k.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(k.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	if qinv == nil {
		qinv = big.NewInt(1)
	}
	der, err := asn1.Marshal(struct {
		Version             int
		N                   *big.Int
		E                   int
		D, P, Q, Dp, Dq, Qi *big.Int
	}{0, k.N, k.E, k.D, p, q, dp, dq, qinv})
	if err != nil {
		t.Fatal(err)
	}
	return der
}
