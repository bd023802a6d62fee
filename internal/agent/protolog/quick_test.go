package protolog

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/protolog/loggen"
)

// quickAndFull parses data with the fast path and with every row fully
// decoded, sequentially and chunked, and returns the summaries and the
// OnSession order as JSON.
func quickAndFull(t testing.TB, data []byte, name string, p Parser) (quick, full string) {
	t.Helper()
	run := func(fullDecode, parallel bool) string {
		q := p
		q.fullDecode = fullDecode
		return parseAsJSON(t, q, data, name, parallel, nil)
	}
	return firstDiff(run(true, false), func(parallel bool) string { return run(false, parallel) })
}

// parseAsJSON parses data with q, chunked at 1 KiB, sequentially or in
// parallel, and returns the summary and the OnSession order (each session
// through view, if set) as JSON.
func parseAsJSON(t testing.TB, q Parser, data []byte, name string, parallel bool, view func(Session) Session) string {
	t.Helper()
	q.chunkBytes = 1 << 10
	var order []Session
	q.OnSession = func(s Session) { order = append(order, s) }
	var sum *Summary
	var err error
	if parallel {
		sum, err = q.Parse(context.Background(), bytes.NewReader(data), name)
	} else {
		sum, err = q.parseSequential(context.Background(), bytes.NewReader(data), name)
	}
	if err != nil {
		t.Fatal(err)
	}
	if view != nil {
		for i := range order {
			order[i] = view(order[i])
		}
	}
	a, _ := json.Marshal(sum)
	b, _ := json.Marshal(order)
	return string(a) + "\n" + string(b)
}

// firstDiff returns the first of run(false) and run(true) that differs from
// want, with want; or want twice.
func firstDiff(want string, run func(parallel bool) string) (got, _ string) {
	for _, parallel := range []bool{false, true} {
		if got := run(parallel); got != want {
			return got, want
		}
	}
	return want, want
}

// TestQuickEqualsFull: the fast path gives what the full decode gives on
// realistic logs of both directions (generated, and the real sample), and
// on rows built to sit at its edges: quoting after the event, replies seen
// for the first time, 250 while capabilities are read, commands that
// matter, a row without a session open, unknown direction.
func TestQuickEqualsFull(t *testing.T) {
	for _, tc := range equivalenceCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if q, f := quickAndFull(t, tc.data, tc.file, Parser{}); q != f {
				t.Fatalf("fast path differs from the full decode:\nquick %s\n full %s", q, f)
			}
		})
	}
}

type equivalenceCase struct {
	name, file string
	data       []byte
}

// equivalenceCases are the logs the fast path and the check view are
// compared with the full decode on: realistic logs of both directions
// (generated, and the real sample) and rows built to sit at the fast
// path's edges.
func equivalenceCases(t testing.TB) []equivalenceCase {
	t.Helper()
	sample, err := os.ReadFile("testdata/SEND20190502-1.log")
	if err != nil {
		t.Fatal(err)
	}
	edges := strings.Join(edgeRows, "\r\n") + "\r\n"
	truncated := loggen.Generate(loggen.Options{Sessions: 100, Interleave: 30, Seed: 6, PartnerFails: true})
	truncated = truncated[:len(truncated)-37]
	return []equivalenceCase{
		{"sample", "SEND20190502-1.log", sample},
		{"edges", "SEND20190502-1.log", []byte(edges)},
		{"edges receive", "RECV20190502-1.log", []byte(edges)},
		{"edges unknown direction", "x.log", []byte(edges)},
		{"send", "SEND20190502-1.log", loggen.Generate(loggen.Options{Sessions: 300, Interleave: 20, Seed: 3, PartnerFails: true})},
		{"receive", "RECV20190502-1.log", loggen.Generate(loggen.Options{Receive: true, Sessions: 300, Interleave: 20, Seed: 4})},
		{"send truncated mid-line", "SEND20190502-1.log", truncated},
		{"send CRLF, many chunks", "SEND20190502-1.log", bytes.ReplaceAll(loggen.Generate(loggen.Options{Sessions: 200, Interleave: 60, Seed: 5, PartnerFails: true}), []byte("\n"), []byte("\r\n"))},
	}
}

// FuzzQuickEqualsFull: on any input the fast path gives the full decode's
// result.
func FuzzQuickEqualsFull(f *testing.F) {
	f.Add(genLog(genOptions{Sessions: 3, Interleave: 2, Seed: 1}), false)
	f.Add(genLog(genOptions{Direction: DirectionReceive, Sessions: 3, Interleave: 2, Seed: 2}), true)
	f.Add([]byte("a,c,S,1,l,r,+,,\na,c,S,2,,,<,250 x,\na,c,S,3,,,<,250 x,\"\na,c,S,4,,,>,MAIL,y\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, receive bool) {
		name := "SEND20200101-1.log"
		if receive {
			name = "RECV20200101-1.log"
		}
		if q, full := quickAndFull(t, data, name, Parser{MaxLineBytes: 512, MaxOpenSessions: 8}); q != full {
			t.Fatalf("fast path differs from the full decode on %q:\nquick %s\n full %s", data, q, full)
		}
	})
}

// FuzzCanonicalTime: a timestamp touch compares as bytes parses to a time
// after the zero time, and two such order as their bytes do.
func FuzzCanonicalTime(f *testing.F) {
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("2019-05-02T06:32:10.119Z"))
	f.Add([]byte("2019-02-29T06:32:10.118Z"), []byte("2019-03-01T06:32:10.118Z"))
	f.Add([]byte("2019-05-02T06:32:60.118Z"), []byte("2019-05-02T06:33:00.000Z"))
	f.Add([]byte("0001-01-01T00:00:00.000Z"), []byte("1000-01-01T00:00:00.000Z"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var days dayCache
		for _, x := range [][]byte{a, b} {
			if got, want := canonicalTime(x), canonicalTimeRef(x); got != want {
				t.Fatalf("canonicalTime(%q) = %v, byte by byte %v", x, got, want)
			}
			if !canonicalTime(x) {
				continue
			}
			tm, ok := parseTime(x)
			if !ok || !tm.After(time.Time{}) {
				t.Fatalf("canonical %q: parseTime %v %v", x, tm, ok)
			}
			if c, ok := days.parse(x); !ok || !c.Equal(tm) {
				t.Fatalf("canonical %q: dayCache %v %v, parseTime %v", x, c, ok, tm)
			}
		}
		if canonicalTime(a) && canonicalTime(b) {
			ta, _ := parseTime(a)
			tb, _ := parseTime(b)
			if got, want := bytes.Compare(a, b), ta.Compare(tb); got != want {
				t.Fatalf("%q vs %q: bytes %d, times %d", a, b, got, want)
			}
		}
	})
}

func TestNextComma(t *testing.T) {
	for _, s := range []string{"", ",", "a", "a,", ",a", "abcdefgh,", "abcdefg,h", "abcdefghijklmnop", "abcdefghijklmno,", "\xac\xff\x2b\x2d,", "\x00\x01,,,", "é,x"} {
		for i := 0; i <= len(s); i++ {
			want := strings.IndexByte(s[i:], ',')
			if want >= 0 {
				want += i
			}
			if got := nextComma([]byte(s), i); got != want {
				t.Errorf("nextComma(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
}

func FuzzNextComma(f *testing.F) {
	f.Add([]byte("2019-05-02T06:00:00.001Z,Outbound,08D6CE8FBF45C2F5,1,"), 3)
	f.Fuzz(func(t *testing.T, b []byte, i int) {
		if i < 0 || i > len(b) {
			return
		}
		want := bytes.IndexByte(b[i:], ',')
		if want >= 0 {
			want += i
		}
		if got := nextComma(b, i); got != want {
			t.Fatalf("nextComma(%q, %d) = %d, want %d", b, i, got, want)
		}
	})
}

// TestCanonicalTimeBytes: canonicalTime accepts exactly the timestamps a
// byte-by-byte check of the form accepts.
func TestCanonicalTimeBytes(t *testing.T) {
	ref := canonicalTimeRef
	base := []byte("2019-05-02T06:32:10.118Z")
	for i := range base {
		for c := range 256 {
			b := bytes.Clone(base)
			b[i] = byte(c)
			if got, want := canonicalTime(b), ref(b); got != want {
				t.Fatalf("canonicalTime(%q) = %v, want %v", b, got, want)
			}
		}
	}
	for _, s := range []string{"2019-02-29T06:32:10.118Z", "2020-02-29T06:32:10.118Z", "1900-02-29T06:32:10.118Z", "2000-02-29T06:32:10.118Z", "2019-04-31T06:32:10.118Z", "2019-12-31T23:59:59.999Z", "0999-01-01T00:00:00.000Z", "2019-00-10T00:00:00.000Z", "2019-13-10T00:00:00.000Z", "2019-01-00T00:00:00.000Z"} {
		if got, want := canonicalTime([]byte(s)), ref([]byte(s)); got != want {
			t.Fatalf("canonicalTime(%q) = %v, want %v", s, got, want)
		}
	}
}

// canonicalTimeRef is canonicalTime checked byte by byte.
func canonicalTimeRef(b []byte) bool {
	if len(b) != canonicalTimeLen {
		return false
	}
	for i, c := range []byte("0000-00-00T00:00:00.000Z") {
		if c == '0' {
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		} else if b[i] != c {
			return false
		}
	}
	mo, _ := atoiN(b[5:7])
	d, _ := atoiN(b[8:10])
	h, _ := atoiN(b[11:13])
	mi, _ := atoiN(b[14:16])
	sec, _ := atoiN(b[17:19])
	y, _ := atoiN(b[0:4])
	return y >= 1000 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h < 24 && mi < 60 && sec < 60
}

// TestDefaultFieldMapLiteral: the literal default map is the one the
// documented #Fields line builds.
func TestDefaultFieldMapLiteral(t *testing.T) {
	if got, want := defaultFieldMap(), newFieldMap(DefaultFields()); got != want {
		t.Fatalf("defaultFieldMap() = %v, #Fields of DefaultFields gives %v", got, want)
	}
}

// FuzzCutColumns: cutting eight bytes at a time (cutPlain, then cutQuoted
// from where it stopped) gives what cutting column by column from the
// start gives, for any line and number of columns.
func FuzzCutColumns(f *testing.F) {
	f.Add([]byte("2019-05-02T06:00:00.001Z,Outbound to Office 365,08D6CE8FBF45C2F5,1,10.0.0.5:35935,104.47.125.131:25,+,,"), uint8(7))
	f.Add([]byte(`2019-05-02T06:00:00.001Z,"Partner, Inc. (TLS)",08D6CE8F160B419B,0,,104.47.174.192:25,*,,attempting to connect`), uint8(7))
	f.Add([]byte(`a,b,c"d,e,f,g,h,i`), uint8(3))
	f.Add([]byte(`a,b,c,d,e,f,g"`), uint8(7))
	f.Add([]byte(`a,"b""c",d,e`), uint8(3))
	f.Fuzz(func(t *testing.T, line []byte, n uint8) {
		k := int(n%8) + 1
		got, want := make([][]byte, k), make([][]byte, k)
		gs, gok := cutColumns(line, got)
		ws, wok := cutQuoted(line, want, 0, 0)
		if gok != wok || (gok && (gs != ws || !slices.EqualFunc(got, want, bytes.Equal))) {
			t.Fatalf("cutColumns(%q, %d) = %q %d %v, column by column %q %d %v", line, k, got, gs, gok, want, ws, wok)
		}
	})
}

func TestZeroBytes(t *testing.T) {
	for _, x := range []uint64{0, 1, 0xFF, 0x80, 0x8000000000000000, 0x0100FF0080007F00, 0xFFFFFFFFFFFFFFFF, 0x0001000100010001, 0x2C2C2C2C2C2C2C2C ^ 0x2C2C2C2C2C2C2C2C} {
		var want uint64
		for i := range 8 {
			if byte(x>>(8*i)) == 0 {
				want |= 0x80 << (8 * i)
			}
		}
		if got := zeroBytes(x); got != want {
			t.Errorf("zeroBytes(%#x) = %#x, want %#x", x, got, want)
		}
	}
}

// edgeRows are data rows at the fast path's edges: quoting after the
// event, replies seen for the first time, 250 while capabilities are read,
// commands that matter, a row without a session open, '*' rows that are
// and are not certificate or TLS rows, times touch must not compare as
// bytes.
var edgeRows = []string{
	"#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context",
	// Quoted data columns (fastRow's own cut when there is no doubled
	// quote, an unquoted context and no quote after it; splitCSV's else).
	`2019-05-02T06:32:10.090Z,C,Q1,0,10.0.0.5:1,10.0.0.9:25,+,,`,
	`2019-05-02T06:32:10.091Z,C,Q1,1,,,*,"CN=a, O=b",Certificate subject`,
	`2019-05-02T06:32:10.092Z,C,Q1,2,,,*,"CN=a, O=""b""",Certificate issuer name`,
	`2019-05-02T06:32:10.093Z,C,Q1,3,,,*,"x"y,Certificate thumbprint`,
	`2019-05-02T06:32:10.094Z,C,Q1,4,,,*,"TLS negotiation failed with error X, y","Remote certificate"`,
	`2019-05-02T06:32:10.095Z,C,Q1,5,,,*,"CN=c, O=d",Certificate subject,"z"`,
	`2019-05-02T06:32:10.096Z,C,Q1,6,,,*,"CN=e, O=f",Certificate subject,z"`,
	`2019-05-02T06:32:10.097Z,C,Q1,7,,,*,"CN=g, O=h",`,
	`2019-05-02T06:32:10.097Z,C,Q1,7,,,*,"CN=l, O=m",Certificate subject,extra`,
	`2019-05-02T06:32:10.098Z,C,Q1,8,,,*,"CN=i, O=j"`,
	`2019-05-02T06:32:10.099Z,C,Q1,9,,,<,"454 4.7.5 no, really",`,
	`2019-05-02T06:32:10.099Z,C,Q1,10,,,*,"unterminated, Certificate subject`,
	`2019-05-02T06:32:10.099Z,C,Q1,11,,,*,"CN=k",Certificate sub"ject,x`,
	`2019-05-02T06:32:10.099Z,C,Q1,12,,,-,,`,
	"2019-05-02T06:32:10.100Z,C,S1,0,10.0.0.5:1,10.0.0.9:25,+,,",
	"2019-05-02T06:32:10.101Z,C,S1,1,,,<,220 mx.fabrikam.com Ready,",
	"2019-05-02T06:32:10.102Z,C,S1,2,,,>,ehlo me,",
	"2019-05-02T06:32:10.103Z,C,S1,3,,,<,250-mx.fabrikam.com Hello [10.0.0.5],",
	"2019-05-02T06:32:10.104Z,C,S1,4,,,<,250-SIZE 1000,",
	"2019-05-02T06:32:10.105Z,C,S1,5,,,<,250 STARTTLS,",
	"2019-05-02T06:32:10.106Z,C,S1,6,,,>,MAIL FROM:<a@b>,",
	"2019-05-02T06:32:10.107Z,C,S1,7,,,<,250 2.1.0 Sender OK,",
	"2019-05-02T06:32:10.108Z,C,S1,8,,,<,250 2.1.5 Hello again,",
	"2019-05-02T06:32:10.109Z,C,S1,9,,,>,RCPT TO:<c@d>,\"unterminated",
	"2019-05-02T06:32:10.110Z,C,S1,10,,,<,354 go ahead,",
	"2019-05-02T06:32:10.111Z,C,S1,11,,,<,354 go ahead again,x,\"\"",
	"2019-05-02T06:32:10.112Z,C,S1,12,,,>,\"DATA, quoted\",",
	"2019-05-02T06:32:10.113Z,C,S1,13,,,<,452 4.3.1 full,",
	"2019-05-02T06:32:09.000Z,C,S1,14,,,>,STARTTLS,",
	"2019-05-02T06:32:11.000Z,C,S1,15,,,>,  X-ANONYMOUSTLS ,",
	"2019-05-02T06:32:11.001Z,C,S2,0,,,>,QUIT,",
	"not a time,C,S1,16,,,<,221 bye,",
	"2019-05-02T06:32:11.002Z,C,S1,17,,,<,221 bye,",
	"2019-05-02T06:32:11.003Z,\"C, quoted\",S1,18,,,<,221 bye,",
	"2019-05-02T06:32:11.004Z,C,,19,,,<,221 bye,",
	"2019-05-02T06:32:11.005Z,C,S1,20,,,<,",
	"2019-05-02T06:32:11.006Z,C,S1,21,,,<,221,",
	"2019-05-02T06:32:11.0061Z,C,S1,21,,,<,250 a\"b,c\"d",
	"2019-05-02T06:32:11.0062Z,C,S1,21,,,*,x,\"TLS negotiation failed with error A, B\"",
	"2019-05-02T06:32:11.0063Z,C,S1,21,,,*,,TLS negotiation failed with error C,\"bad",
	"2019-05-02T06:32:11.0064Z,C,S1,21,,,*,,TLS negotiation failed with error D,x\"y,z",
	"2019-05-02T06:32:11.0065Z,\"C\"\"q\",S1,21,,,<,421 4.4.2 gone,",
	"2019-05-02T06:32:11.0066Z,\"C\",S1,21,,,<,\"421 4.4.2 \"\"gone\"\"\",\"ctx\"",
	"2019-05-02T06:32:11.0067Z,C,S1,21,,,<,\"422 x\" y,",
	"2019-05-02T06:32:11.007Z,C,S1,22,,,-,,",
	"2019-05-02T06:32:11.008Z,C,S1,23,,,+,,", // the id again: a new session
	"2019-05-02T06:32:11.009Z,C,S1,24,,,<,220 again,",
	"2019-05-02T06:32:11.010Z,C,S1,25,,,-,,",
	// Times the lazy comparison must not take as bytes (touch).
	"2019-02-29T06:32:11.000Z,C,T1,0,,,+,,",
	"2019-03-01T01:00:00.000Z,C,T1,1,,,*,,x",
	"2019-05-02T06:32:60.500Z,C,T2,0,,,+,,",
	"2019-05-02T06:33:00.200Z,C,T2,1,,,*,,x",
	"0001-01-01T00:00:00.000Z,C,T3,0,,,+,,",
	"2019-05-02T06:32:11.000Z,C,T3,1,,,*,,x",
	"2019-05-02T06:32:10.000Z,C,T3,2,,,*,,x",
	"0001-01-01T00:00:00.000Z,C,T3,3,,,*,,x",
	"2019-05-02T06:32:09.000Z,C,T3,4,,,*,,x",
	"2019-05-02 06:32:08.000Z,C,T3,5,,,*,,x",
	"2019-05-02T06:32:12.5Z,C,T3,6,,,*,,x",
	"2020-02-29T06:32:11.000Z,C,T4,0,,,+,,",
	"2020-02-30T06:32:11.000Z,C,T4,1,,,*,,x",
	"2020-02-29T24:00:00.000Z,C,T4,2,,,*,,x",
	"2019-03-01T02:00:00.000Z,C,T1,3,,,-,,",
	"0001-01-01T00:00:00.000Z,C,T5,0,,,+,,",
	"2019-05-02T06:32:10.000Z,C,T5,1,,,*,,x",
	"2019-05-02T06:32:09.000Z,C,T5,2,,,-,,",
	"2019-05-02T06:33:00.300Z,C,T2,2,,,>,EHLO x,",
	"2019-05-02T06:32:60.999Z,\"C\"\"q\",T2,2,,,>,QUIT,", // the full decode's row after a fast one: its time parsed
	"2019-05-02T06:32:11.007Z,C,T2,2,,,-,,",
	"2019-05-02T06:32:11.007Z,C,T3,7,,,-,,",
	// '*' rows: certificate blocks (ours, the peer's, header-less, repeated
	// fields), TLS outcomes and statuses in either column and case, and
	// rows that are none of them between a block's rows.
	"2019-05-02T06:32:12.000Z,C,U1,0,10.0.0.5:2,10.0.0.9:25,*,,attempting to connect",
	"2019-05-02T06:32:12.001Z,C,U1,1,,,+,,",
	"2019-05-02T06:32:12.002Z,C,U1,2,,,<,220 2.0.0 ready,",
	"2019-05-02T06:32:12.003Z,C,U1,3,,,<,220 mx.fabrikam.com Ready,",
	"2019-05-02T06:32:12.004Z,C,U1,4,,,*,,  sending certificate ",
	"2019-05-02T06:32:12.005Z,C,U1,5,,,*,CN=a,Certificate subject",
	"2019-05-02T06:32:12.006Z,C,U1,6,,,*,x,attempting nothing",
	"2019-05-02T06:32:12.007Z,C,U1,7,,,*,CN=b,Certificate issuer name",
	"2019-05-02T06:32:12.008Z,C,U1,8,,,*,,Sending certificate",
	"2019-05-02T06:32:12.009Z,C,U1,9,,,*,CN=c,certificate SUBJECT",
	"2019-05-02T06:32:12.010Z,C,U1,10,,,*,CN=ca,Certificate issuer name",
	"2019-05-02T06:32:12.011Z,C,U1,11,,,*,  ,Certificate serial number",
	"2019-05-02T06:32:12.012Z,C,U1,12,,,*,0A,Certificate serial number",
	"2019-05-02T06:32:12.013Z,C,U1,13,,,*,3C:1F 8E,Certificate thumbprint",
	"2019-05-02T06:32:12.014Z,C,U1,14,,,*,a;b,Certificate alternate names",
	"2019-05-02T06:32:12.015Z,C,U1,15,,,*,c,Certificate alternate names",
	"2019-05-02T06:32:12.016Z,C,U1,16,,,*,,Remote certificate",
	"2019-05-02T06:32:12.017Z,C,U1,17,,,*,CN=r,Certificate subject",
	"2019-05-02T06:32:12.018Z,C,U1,18,,,*,CN=r,Certificate subject",
	"2019-05-02T06:32:12.019Z,C,U1,19,,,*,::,Certificate thumbprint",
	"2019-05-02T06:32:12.020Z,C,U1,20,,,*,AB,Certificate thumbprint",
	"2019-05-02T06:32:12.021Z,C,U1,21,,,*,,received certificate",
	"2019-05-02T06:32:12.022Z,C,U1,22,,,*,x=y,Certificate issuer name",
	"2019-05-02T06:32:12.023Z,C,U1,23,,,*,CN=l,Certificate subject",
	"2019-05-02T06:32:12.024Z,C,U1,24,,,*,\"CN=a, O=b CN=c, O=d 0A 3C1F8E6A9B2D4C5E6F708192A3B4C5D6E7F80912 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM x\",Sending certificate Subject Issuer name",
	"2019-05-02T06:32:12.025Z,C,U1,25,,,*,CN=after,Certificate subject",
	"2019-05-02T06:32:12.026Z,C,U1,26,,,*,CN=a b,Remote certificate Subject Issuer",
	"2019-05-02T06:32:12.027Z,C,U1,27,,,*,,tls negotiation failed with error NoCredentials",
	"2019-05-02T06:32:12.028Z,C,U1,28,,,*,TLS protocol SP_PROT_TLS1_2_CLIENT negotiation succeeded,",
	"2019-05-02T06:32:12.029Z,C,U1,29,,,*,,client certificate chain validation status: 'EmptyCertificate'",
	"2019-05-02T06:32:12.030Z,C,U1,30,,,*,x;TlsDomainCapabilities='None'; Status='NoRemoteCertificate',y",
	"2019-05-02T06:32:12.031Z,C,U1,31,,,*,sending message with RecordId 1,x",
	"2019-05-02T06:32:12.032Z,C,U1,32,,,*, TLS,short",
	"2019-05-02T06:32:12.033Z,C,U1,33,,,*,,Set Session Permissions",
	"2019-05-02T06:32:12.034Z,C,U1,34,,,<,221 bye,",
	"2019-05-02T06:32:12.035Z,C,U1,35,,,<,221 bye again,",
	"2019-05-02T06:32:12.036Z,C,U1,36,,,>,EHLO again,",
	"2019-05-02T06:32:12.037Z,C,U1,37,,,<,250-x Hello [1.2.3.4] STARTTLS,",
	"2019-05-02T06:32:12.038Z,C,U1,38,,,<,250 SIZE,",
	"2019-05-02T06:32:12.039Z,C,U1,39,,,<,250 2.1.0 ok,",
	"2019-05-02T06:32:12.040Z,C,U1,40,,,-,,",
}

// FuzzCanonicalClock: for a timestamp with the date of one canonicalTime
// accepted, canonicalClock says what canonicalTime says.
func FuzzCanonicalClock(f *testing.F) {
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("06:32:10.118Z"))
	f.Add([]byte("2019-02-28T23:59:59.999Z"), []byte("24:00:00.000Z"))
	f.Add([]byte("2020-02-29T00:00:00.000Z"), []byte("00:60:00.000Z"))
	f.Add([]byte("2020-02-29T00:00:00.000Z"), []byte("00:00:60.000Z"))
	f.Add([]byte("2019-05-02T06:32:10.118Z"), []byte("06:32:10.118z"))
	f.Fuzz(func(t *testing.T, date, clock []byte) {
		if !canonicalTime(date) {
			return
		}
		b := append(slices.Clone(date[:11]), clock...)
		if got, want := canonicalClock(b), canonicalTime(b); got != want {
			t.Fatalf("canonicalClock(%q) = %v, canonicalTime %v", b, got, want)
		}
		var c connCache
		if !c.canonical(date) || c.canonical(b) != canonicalTime(b) {
			t.Fatalf("connCache.canonical(%q) after %q differs from canonicalTime", b, date)
		}
	})
}
