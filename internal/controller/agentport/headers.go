package agentport

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/metadata"
)

// maxHeaderList bounds a request's header block (compressed and decoded).
const maxHeaderList = 16 << 10

// request is what a HEADERS block said, collected while decoding.
type request struct {
	method, path, contentType, encoding string
	timeout                             time.Duration
	hasTimeout                          bool
	md                                  metadata.MD
	size                                int
	regularSeen                         bool
	pseudo                              uint8 // pseudo-headers seen, a bit each
	contentLength                       int64 // -1: none
	malformed                           string
}

const (
	seenMethod = 1 << iota
	seenPath
	seenScheme
	seenAuthority
)

// check is the end of the block: what a request must have (RFC 9113 8.3.1).
func (r *request) check() {
	if r.malformed == "" && r.pseudo&(seenMethod|seenPath|seenScheme) != seenMethod|seenPath|seenScheme {
		r.malformed = "missing :method, :scheme or :path"
	}
}

// field collects one decoded header field.
func (r *request) field(f hpack.HeaderField) {
	r.size += len(f.Name) + len(f.Value) + 32
	if r.malformed != "" {
		return
	}
	if r.size > maxHeaderList {
		r.malformed = "header list too large"
		return
	}
	if strings.HasPrefix(f.Name, ":") {
		if r.regularSeen {
			r.malformed = "pseudo-header after a regular header"
			return
		}
		var bit uint8
		switch f.Name {
		case ":method":
			r.method, bit = f.Value, seenMethod
		case ":path":
			r.path, bit = f.Value, seenPath
		case ":scheme":
			bit = seenScheme
		case ":authority":
			bit = seenAuthority
		default:
			r.malformed = "unknown pseudo-header " + strconv.Quote(f.Name)
			return
		}
		if r.pseudo&bit != 0 {
			r.malformed = "duplicate " + f.Name
		}
		r.pseudo |= bit
		return
	}
	r.regularSeen = true
	if !validHeaderName(f.Name) {
		r.malformed = "invalid header name " + strconv.Quote(f.Name)
		return
	}
	switch f.Name {
	case "content-type":
		r.contentType = f.Value
	case "grpc-encoding":
		r.encoding = f.Value
	case "grpc-timeout":
		d, ok := parseTimeout(f.Value)
		if !ok {
			r.malformed = "bad grpc-timeout " + strconv.Quote(f.Value)
			return
		}
		r.timeout, r.hasTimeout = d, true
	case "te":
		if f.Value != "trailers" {
			r.malformed = "te other than trailers"
		}
	case "content-length":
		n, err := strconv.ParseInt(f.Value, 10, 64)
		if err != nil || n < 0 || r.contentLength >= 0 && r.contentLength != n {
			r.malformed = "bad content-length"
			return
		}
		r.contentLength = n
	case "grpc-accept-encoding", "grpc-message-type":
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		r.malformed = "connection-specific header " + f.Name
	default:
		v := f.Value
		if strings.HasSuffix(f.Name, "-bin") {
			b, err := decodeBinHeader(v)
			if err != nil {
				r.malformed = "bad binary header " + f.Name
				return
			}
			v = string(b)
		}
		if r.md == nil {
			r.md = metadata.MD{}
		}
		r.md[f.Name] = append(r.md[f.Name], v)
	}
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func decodeBinHeader(v string) ([]byte, error) {
	if len(v)%4 == 0 {
		return base64.StdEncoding.DecodeString(v)
	}
	return base64.RawStdEncoding.DecodeString(v)
}

// parseTimeout reads a grpc-timeout value: at most 8 digits and a unit.
func parseTimeout(s string) (time.Duration, bool) {
	if len(s) < 2 || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	if n > int64(1<<62)/int64(unit) {
		return 1 << 62, true
	}
	return time.Duration(n) * unit, true
}

// HPACK output: we never use the dynamic table, so encoding needs no state.

// appendHPACKInt encodes v with an n-bit prefix whose other bits are first.
func appendHPACKInt(b []byte, first byte, n uint, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(limit))
	v -= limit
	for v >= 128 {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// appendLiteral encodes a literal header field without indexing, new name.
func appendLiteral(b []byte, name, value string) []byte {
	b = append(b, 0x00)
	b = appendHPACKInt(b, 0, 7, uint64(len(name)))
	b = append(b, name...)
	b = appendHPACKInt(b, 0, 7, uint64(len(value)))
	return append(b, value...)
}

// status200 is ":status: 200", entry 8 of the static table.
const status200 = 0x88
