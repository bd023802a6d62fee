// Package tagvalue parses the "v=VERSION; key=value; ..." TXT records that
// mail-security DNS records share (MTA-STS `_mta-sts`, RFC 8461 section
// 3.1; TLS-RPT `_smtp._tls`, RFC 8460 section 3): which of a name's TXT
// strings are records of a version, and each record's fields. What the
// fields mean stays with the package of each record.
package tagvalue

import (
	"errors"
	"fmt"
	"strings"
)

// Errors Parse returns (wrapped with the field or version at fault).
var (
	ErrNotKeyValue = errors.New("is not key=value")
	ErrVersion     = errors.New("does not start with the version tag")
)

// Field is one key=value of a record, both trimmed.
type Field struct{ Key, Value string }

// Parse splits record t into its fields; the first must be v=version, and
// a record without fields is not one. Empty fields (";;", a trailing ";")
// are skipped.
func Parse(t, version string) ([]Field, error) {
	var out []Field
	for _, f := range strings.Split(t, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return out, fmt.Errorf("field %q %w", f, ErrNotKeyValue)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(out) == 0 && (k != "v" || v != version) {
			return out, fmt.Errorf("must start with v=%s: %w", version, ErrVersion)
		}
		out = append(out, Field{k, v})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("must start with v=%s: %w", version, ErrVersion)
	}
	return out, nil
}

// One picks the one record of version out of a name's TXT strings (each
// TXT record's strings already joined) and parses it with parse, stopping at
// the first error. Both RFCs treat a name without such a record as one
// without the policy (One returns none) and several as none valid: senders
// ignore them all (One returns the first, and invalid wrapped with the
// count).
func One[R any](txts []string, version string, parse func(string) (R, error), none, invalid error) (R, error) {
	var first R
	n := 0
	for _, t := range txts {
		t = strings.TrimSpace(t)
		if !strings.HasPrefix(t, "v="+version) {
			continue
		}
		r, err := parse(t)
		if err != nil {
			return r, err
		}
		if n == 0 {
			first = r
		}
		n++
	}
	switch {
	case n == 0:
		return first, none
	case n > 1:
		return first, fmt.Errorf("%w: %d %s records (senders ignore them all)", invalid, n, version)
	}
	return first, nil
}
