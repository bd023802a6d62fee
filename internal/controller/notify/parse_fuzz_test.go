package notify

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter: a receiver's Retry-After never makes a wait below zero or
// above maxRetryAfter, and a count of seconds means exactly that (capped),
// however large.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "120", "-5", "3600", "3601", "9999999999999", "9223372036854775807", "Wed, 02 Dec 2026 09:05:00 GMT",
		"Wed, 02 Dec 2026 08:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "1.5", " 60", "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d := retryAfter(h, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q: %v", h, d)
		}
		if n, err := strconv.Atoi(h); err == nil {
			want := time.Duration(min(max(n, 0), int(maxRetryAfter/time.Second))) * time.Second
			if d != want {
				t.Fatalf("Retry-After %q: %v, want %v", h, d, want)
			}
		}
	})
}

// FuzzTableLookup: whatever a ServiceNow instance (or a proxy in front of
// it) answers to the lookup, the sys_id taken from it is one safe path
// segment of the PATCH URL, or there is an error.
func FuzzTableLookup(f *testing.F) {
	for _, s := range []string{`{"result":[{"sys_id":"9d385017c611228701d22104cc95c371","state":"2"}]}`, `{"result":[]}`, `{"result":[{"sys_id":"../../sys_user"}]}`,
		`{"result":[{"sys_id":"a b"}]}`, `{"result":[{"sys_id":"x%2F..","state":7}]}`, `<html>login</html>`, `{"result":{"sys_id":"x"}}`, `{"result":[{"sys_id":""}]}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sysID, state, err := parseTableLookup(b)
		if err != nil {
			if sysID != "" || state != "" {
				t.Fatalf("error %v with sys_id %q", err, sysID)
			}
			return
		}
		if sysID == "" {
			if state != "" {
				t.Fatalf("state %q without a record", state)
			}
			return
		}
		u, perr := url.Parse("https://acme.service-now.com" + ServiceNowTablePath + "/" + sysID)
		if perr != nil || u.Path != ServiceNowTablePath+"/"+sysID || strings.Count(u.Path, "/") != strings.Count(ServiceNowTablePath, "/")+1 || sysID == "." || sysID == ".." {
			t.Fatalf("sys_id %q does not stay one path segment: %v %v", sysID, u, perr)
		}
	})
}
