// Package identity is how an agent certificate names its agent, shared by
// the controller's agent CA (which writes it) and the agent (which reads
// its own certificate back).
//
// Identity is a URI SAN spiffe://mxprobe/site/<site>/agent/<id>. The serial
// number carries the issue time (unix nanoseconds in its high bits), so a
// revocation can cover "every certificate of this agent issued before T".
package identity

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// ErrNoIdentity: the certificate carries no mxprobe agent identity.
var ErrNoIdentity = errors.New("identity: certificate carries no mxprobe agent identity")

// Identity is who an agent certificate names.
type Identity struct {
	AgentID, Site string
	IssuedAt      time.Time
}

// ValidID checks an agent id or site: 1-128 bytes of [A-Za-z0-9._-].
func ValidID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Of reads the agent identity of a certificate (no verification).
func Of(c *x509.Certificate) (Identity, error) {
	for _, u := range c.URIs {
		if u.Scheme != "spiffe" || u.Host != "mxprobe" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
		if len(parts) == 4 && parts[0] == "site" && parts[2] == "agent" {
			site, err1 := url.PathUnescape(parts[1])
			id, err2 := url.PathUnescape(parts[3])
			if err1 == nil && err2 == nil && ValidID(site) && ValidID(id) {
				return Identity{AgentID: id, Site: site, IssuedAt: IssuedAt(c.SerialNumber)}, nil
			}
		}
	}
	return Identity{}, ErrNoIdentity
}

// URI is the SAN that names id in a certificate.
func URI(id Identity) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: "mxprobe", Path: "/site/" + url.PathEscape(id.Site) + "/agent/" + url.PathEscape(id.AgentID)}
}

// Serial is a certificate serial number issued at now: the issue time in
// the high bits and 32 random bits below.
func Serial(now time.Time) *big.Int {
	var r [4]byte
	_, _ = rand.Read(r[:])
	s := new(big.Int).SetInt64(now.UnixNano())
	s.Lsh(s, 32)
	return s.Or(s, new(big.Int).SetBytes(r[:]))
}

// IssuedAt is the issue time a Serial carries.
func IssuedAt(serial *big.Int) time.Time {
	return time.Unix(0, new(big.Int).Rsh(serial, 32).Int64())
}
