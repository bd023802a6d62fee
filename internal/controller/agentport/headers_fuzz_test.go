package agentport

import (
	"testing"

	"golang.org/x/net/http2/hpack"
)

func FuzzRequestHeaders(f *testing.F) {
	f.Add(":method", "POST", "grpc-timeout", "10S", "x-trace-bin", "AAEC")
	f.Add(":path", "/a/b", "Content-Type", "x", "te", "trailers")
	f.Add("grpc-timeout", "99999999H", ":status", "200", "connection", "close")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, n3, v3 string) {
		var r request
		for _, kv := range [][2]string{{n1, v1}, {n2, v2}, {n3, v3}} {
			r.field(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
		if r.hasTimeout && r.timeout < 0 {
			t.Fatalf("negative timeout %v", r.timeout)
		}
		if r.size > 0 && r.size < 96 {
			t.Fatalf("size %d does not count three fields", r.size)
		}
		got := encodeGRPCMessage(v1)
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] > 0x7e {
				t.Fatalf("grpc-message %q has byte %#x", got, got[i])
			}
		}
	})
}

func TestParseTimeout(t *testing.T) {
	for in, ok := range map[string]bool{"1S": true, "100m": true, "99999999H": true, "S": false, "-1S": false, "1x": false, "123456789S": false} {
		if _, got := parseTimeout(in); got != ok {
			t.Errorf("parseTimeout(%q) ok=%v, want %v", in, got, ok)
		}
	}
	if d, _ := parseTimeout("1500m"); d.Milliseconds() != 1500 {
		t.Errorf("1500m = %v", d)
	}
}
