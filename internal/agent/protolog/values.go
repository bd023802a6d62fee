package protolog

import (
	"slices"

	"github.com/mxprobe/mxprobe/internal/thumbprint"
)

// valueCache remembers the values that rows repeat from session to session
// (certificate fields, capabilities, banners, TLS outcomes, reply texts) and
// what is derived from them (normalized thumbprints, alternate names,
// condensed certificates), so that a value is allocated and parsed once per
// worker instead of once per session. Each map holds at most
// maxCachedValues entries of at most maxCachedLen bytes: a log of
// all-distinct values costs one failed lookup per value and no more memory. A nil cache computes every value
// (the full decode of the tests). Owned by one goroutine.
type valueCache struct {
	// last is the value each slot (a place in a session: a certificate
	// field, the n-th capability, the TLS outcome, ...) had last time: mostly
	// the same again, found by one comparison instead of a map lookup.
	last   [numSlots]string
	strs   map[string]string
	thumbs map[string]string
	alts   map[string][]string
	conds  map[string]Certificate
}

const (
	maxCachedValues = 1024
	maxCachedLen    = 1024
)

func newValueCache() *valueCache {
	return &valueCache{strs: map[string]string{}, thumbs: map[string]string{}, alts: map[string][]string{}, conds: map[string]Certificate{}}
}

// Slots of valueCache.strAt.
const (
	slotCert       = 0 // + field-1 + 5*certificate index (< 8)
	slotTLSStatus  = 40
	slotTLSDetail  = 41
	slotTLSProto   = 42
	slotReply      = 43
	slotRemoteName = 44
	slotCap        = 45 // + capability line (< 64)
	numSlots       = slotCap + 64
)

// strAt is str(b) remembered in a slot.
func (c *valueCache) strAt(slot int, b []byte) string {
	if c == nil {
		return capString(b)
	}
	if s := c.last[slot]; s == string(b) {
		return s
	}
	s := c.str(b)
	c.last[slot] = s
	return s
}

// str is capString(b).
func (c *valueCache) str(b []byte) string {
	if c == nil || len(b) > maxCachedLen {
		return capString(b)
	}
	if s, ok := c.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(c.strs) < maxCachedValues {
		c.strs[s] = s
	}
	return s
}

// thumbprint is thumbprint.Normalize(v).
func (c *valueCache) thumbprint(v string) string {
	if c == nil || len(v) > maxCachedLen {
		return thumbprint.Normalize(v)
	}
	if s, ok := c.thumbs[v]; ok {
		return s
	}
	s := thumbprint.Normalize(v)
	if len(c.thumbs) < maxCachedValues {
		c.thumbs[v] = s
	}
	return s
}

// altNames is splitAltNames(v), a slice of the caller's own.
func (c *valueCache) altNames(v string) []string {
	if c == nil || len(v) > maxCachedLen {
		return splitAltNames(v)
	}
	f, ok := c.alts[v]
	if !ok {
		f = splitAltNames(v)
		if len(c.alts) < maxCachedValues {
			c.alts[v] = f
		}
	}
	return slices.Clone(f)
}

// condensed is parseCondensedCert(capString(data), into a fresh
// Certificate); the caller sets Role, Label and Time.
func (c *valueCache) condensed(data []byte) Certificate {
	if c == nil || len(data) > maxCachedLen {
		var cert Certificate
		parseCondensedCert(capString(data), &cert)
		return cert
	}
	cert, ok := c.conds[string(data)]
	if !ok {
		parseCondensedCert(capString(data), &cert)
		if len(c.conds) < maxCachedValues {
			c.conds[string(data)] = cert
		}
	}
	cert.AlternateNames = slices.Clone(cert.AlternateNames)
	return cert
}
