package tlsrpt

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/mxprobe/mxprobe/internal/tagvalue"
)

// ErrRecordInvalid: a `_smtp._tls` TXT record that does not parse (RFC 8460
// section 3).
var ErrRecordInvalid = errors.New("tlsrpt: invalid _smtp._tls record")

// ErrNoRecord: the name has no TLSRPTv1 record.
var ErrNoRecord = errors.New("tlsrpt: no _smtp._tls record")

// Record is a parsed TLS-RPT DNS record.
type Record struct {
	// RUA are the reporting URIs: mailto: or https:.
	RUA []string
	Raw string
}

// ParseRecords picks the TLSRPTv1 record out of a name's TXT strings; more
// than one is invalid (senders then send no reports).
func ParseRecords(txts []string) (Record, error) {
	return tagvalue.One(txts, "TLSRPTv1", parseRecord, ErrNoRecord, ErrRecordInvalid)
}

func parseRecord(t string) (Record, error) {
	r := Record{Raw: t}
	fields, err := tagvalue.Parse(t, "TLSRPTv1")
	if err != nil {
		return r, fmt.Errorf("%w: %v", ErrRecordInvalid, err)
	}
	for _, f := range fields {
		if f.Key != "rua" {
			continue
		}
		for _, u := range strings.Split(f.Value, ",") {
			u = strings.TrimSpace(u)
			if err := validRUA(u); err != nil {
				return r, fmt.Errorf("%w: rua %q: %v", ErrRecordInvalid, u, err)
			}
			r.RUA = append(r.RUA, u)
		}
	}
	if len(r.RUA) == 0 {
		return r, fmt.Errorf("%w: no rua", ErrRecordInvalid)
	}
	return r, nil
}

func validRUA(u string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	switch strings.ToLower(pu.Scheme) {
	case "mailto":
		addr, err := url.PathUnescape(pu.Opaque)
		if err != nil {
			return err
		}
		if _, err := mail.ParseAddress(addr); err != nil {
			return fmt.Errorf("not a mail address: %v", err)
		}
	case "https":
		if pu.Host == "" {
			return errors.New("https URI without host")
		}
	default:
		return fmt.Errorf("scheme %q: want mailto: or https:", pu.Scheme)
	}
	return nil
}
