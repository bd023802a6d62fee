package queue

import (
	"strings"
	"testing"
)

// FuzzParseLastError: never panics; every reply has a valid code; field
// values are substrings of the input; classification is stable.
func FuzzParseLastError(f *testing.F) {
	f.Add(seedLastError)
	f.Add(`[{LED=450 4.4.317 Cannot connect [Message=SubjectMismatch; {X=y}] -> 550 5.7.51 TenantInboundAttribution};{MSG=a;b=c -> d};{FQDN=x};{IP=1.2.3.4};{LRT=13.05.2024 14:03:00}`)
	f.Add(`451 4.4.0 Primary target IP address responded with: "421 4.2.1 Unable to connect." Attempted failover`)
	f.Add("[{LED=")
	f.Add("\x00[{\xff=};{=}]->->")
	f.Fuzz(func(t *testing.T, s string) {
		e := ParseLastError(s)
		for _, fl := range e.Fields {
			if !strings.Contains(s, fl.Value) {
				t.Fatalf("value %q not in input", fl.Value)
			}
		}
		for _, r := range e.Replies() {
			if r.Code < 200 || r.Code > 599 {
				t.Fatalf("bad code %d", r.Code)
			}
			if r.Enhanced != "" {
				if _, n := enhancedAt(r.Enhanced); n != len(r.Enhanced) {
					t.Fatalf("bad enhanced %q", r.Enhanced)
				}
			}
		}
		a, b := Classify(e), ClassifyText(s)
		if len(a.Matches) != len(b.Matches) {
			t.Fatal("unstable classification")
		}
	})
}

// FuzzParseBytes: never panics on arbitrary input.
func FuzzParseBytes(f *testing.F) {
	f.Add([]byte(`[{"Identity":"EDGE\\3","Status":3,"MessageCount":1,"LastError":"x"}]`))
	f.Add([]byte(`{"queues":[{"Status":{"value":"Retry"}}]}`))
	f.Add([]byte("\xff\xfe{\x00}\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseBytes(b)
		if err == nil && s == nil {
			t.Fatal("nil snapshot without error")
		}
		if s != nil {
			for i := range s.Queues {
				_ = s.Queues[i].Classify()
			}
		}
	})
}
