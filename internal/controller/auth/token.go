package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// ErrMalformedToken: not of the form mxp_<id>_<secret>.
var ErrMalformedToken = errors.New("auth: malformed token")

// NewSecret returns a token id and the full secret string handed to the user.
func NewSecret() (id, secret string, err error) {
	var idb [8]byte
	var sb [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return "", "", err
	}
	id = hex.EncodeToString(idb[:])
	return id, "mxp_" + id + "_" + base64.RawURLEncoding.EncodeToString(sb[:]), nil
}

// ParseSecret splits a token into its id and the hash of the whole secret.
func ParseSecret(s string) (id string, hash []byte, err error) {
	s = strings.TrimSpace(s)
	if len(s) > 256 || !strings.HasPrefix(s, "mxp_") {
		return "", nil, ErrMalformedToken
	}
	rest := s[len("mxp_"):]
	i := strings.IndexByte(rest, '_')
	if i != 16 || len(rest) < 18 {
		return "", nil, ErrMalformedToken
	}
	id = rest[:16]
	if _, err := hex.DecodeString(id); err != nil {
		return "", nil, ErrMalformedToken
	}
	return id, Hash(s), nil
}

// Hash is the stored form of a secret.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
