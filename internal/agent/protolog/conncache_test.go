package protolog

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzConnCache: where connCache.cut cuts a line, after learning the
// connector of any line before, it gives cutColumns' columns and start,
// and a canonical time; and where cutAt says where the data and the
// context end, that is where they end. The line is followed in its
// backing array by tail (cutAt reads up to 64 bytes past the session
// within the line's capacity).
func FuzzConnCache(f *testing.F) {
	f.Add([]byte(`2019-05-02T06:32:10.118Z,"Partner, Inc. (TLS)",08D6CE8F0A2C3B11,1,10.0.0.5:1,104.47.1.2:25,<,250 x,`),
		[]byte(`2019-05-02T06:32:10.119Z,"Partner, Inc. (TLS)",08D6CE8F0A2C3B12,2,10.0.0.5:2,104.47.1.3:25,*,,"y, z"`), []byte(",,,,\n,,"))
	f.Add([]byte(`2019-05-02T06:32:10.118Z,Outbound,S,1,,,+,,`), []byte(`2019-05-02T06:32:10.118Z,Outbound,S,1,"l",r,+,,`), []byte(`2019-05-02T06:32:10.118Z,Outbound,S,1,"l",r,+,,`))
	f.Add([]byte(`2019-05-02T06:32:10.118Z,Out"bound,S,1,,,+,,`), []byte(`2019-05-02T06:32:10.118Z,Out"bound,S,1,,,-`), []byte(strings.Repeat(",", 80)))
	f.Add([]byte(`2019-05-02T06:32:10.118Z,"C""q",S,1,,,+,,`), []byte(`2019-05-02T06:32:10.118Z,"C""q",S,1,,,+,,`), []byte{})
	f.Add([]byte(`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`), []byte(`2019-05-02T06:32:10.119Z,Outbound,08D6CE8F0A2C3B11,12,10.0.0.5:35935,104.47.125.131:25,<,250-PIPELINING,`), []byte(",a,b,c"))
	f.Add([]byte(`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`), []byte(`2019-05-02T06:32:10.119Z,Outbound,08D6CE8F0A2C3B11,12,10.0.0.5:35935,104.47.125.131:25,*,,attempting to connect`), []byte(",a,b,c"))
	f.Fuzz(func(t *testing.T, prev, line, tail []byte) {
		var c connCache
		var pc [colEvent + 1][]byte
		if _, ok := cutColumns(prev, pc[:]); ok {
			c.learn(prev, pc[colDateTime], pc[colConnector])
		}
		line = append(slices.Clone(line), tail...)[:len(line)]
		var got [colEvent + 1][]byte
		start, ok := c.cut(line, &got)
		if !ok {
			return
		}
		var want [colEvent + 1][]byte
		wstart, wok := cutColumns(line, want[:])
		if !wok || start != wstart || !slices.EqualFunc(got[:], want[:], func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("cut %q after %q: %d %q, cutColumns %v %d %q", line, prev, start, got, wok, wstart, want)
		}
		if !canonicalTime(got[colDateTime]) {
			t.Fatalf("cut %q: time %q not canonical", line, got[colDateTime])
		}
		var ends [8]int
		if _, _, ok := c.cutAt(line, &ends); !ok {
			t.Fatalf("cutAt %q fails where cut does not", line)
		}
		// The next comma at or after i, len(line) when none.
		next := func(i int) int {
			if j := bytes.IndexByte(line[i:], ','); j >= 0 {
				return i + j
			}
			return len(line)
		}
		if d := ends[5]; d >= 0 {
			if w := next(start); d != w {
				t.Fatalf("cutAt %q: data ends at %d, not %d", line, d, w)
			}
			if k := ends[6]; k >= 0 && (d == len(line) || k != next(d+1)) {
				t.Fatalf("cutAt %q: context ends at %d (data at %d)", line, k, d)
			}
		} else if ends[6] >= 0 {
			t.Fatalf("cutAt %q: context end %d without the data's", line, ends[6])
		}
	})
}

// TestConnCacheCuts: the shapes the cache takes, and those it leaves to
// cutColumns.
func TestConnCacheCuts(t *testing.T) {
	for _, tc := range []struct {
		prev, line string
		ok         bool
	}{
		{`2019-05-02T06:32:10.118Z,"Partner, Inc. (TLS)",A,1,l,r,<,250 x,`, `2019-05-02T06:32:10.119Z,"Partner, Inc. (TLS)",B,2,l,r,*,,x`, true},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound,B,2,,,+,,`, true},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound2,B,2,,,+,,`, false},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,"Outbound",B,2,,,+,,`, false},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound,"B",2,,,+,,`, false},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:60.119Z,Outbound,B,2,,,+,,`, false},
		{`2019-05-02T06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound,B,2,,`, false},
		{`2019-05-02 06:32:10.118Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound,B,2,,,+,,`, true},
		{`2019-05-02T06:32:10.1Z,Outbound,A,1,l,r,<,x,`, `2019-05-02T06:32:10.119Z,Outbound,B,2,,,+,,`, false},
	} {
		var c connCache
		var pc [colEvent + 1][]byte
		if _, ok := cutColumns([]byte(tc.prev), pc[:]); !ok {
			t.Fatalf("cutColumns %q", tc.prev)
		}
		c.learn([]byte(tc.prev), pc[colDateTime], pc[colConnector])
		var got [colEvent + 1][]byte
		if _, ok := c.cut([]byte(tc.line), &got); ok != tc.ok {
			t.Errorf("cut %q after %q: %v, want %v", tc.line, tc.prev, ok, tc.ok)
		}
	}
}
