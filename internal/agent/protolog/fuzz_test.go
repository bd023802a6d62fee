package protolog

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzParseLine: never panics; agrees with encoding/csv on every line
// encoding/csv accepts as one record; round-trips the session id.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`2019-05-02T06:32:10.118Z,Outbound to Office 365,08D6CE8F0A2C3B11,16,10.0.0.5:28311,104.47.1.33:25,*,"CN=mail.contoso.com, O=Contoso, C=NL",Certificate subject`))
	f.Add([]byte(`2019-05-02T06:32:10.134Z,Outbound to Office 365,08D6CE8F0A2C3B11,20,10.0.0.5:28311,104.47.1.33:25,*,,TLS negotiation failed with error NoCredentials`))
	f.Add([]byte(`x,"a""b",,"unterminated`))
	f.Add([]byte("\x00\xff\"\",\","))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line, nil)
		if err == nil && r.SessionID == "" {
			t.Fatal("accepted row without session id")
		}
		if len(line) == 0 || bytes.ContainsAny(line, "\r\n") || len(line) > DefaultMaxLineBytes {
			return
		}
		cr := csv.NewReader(bytes.NewReader(line))
		cr.FieldsPerRecord = -1
		recs, cerr := cr.ReadAll()
		if cerr != nil || len(recs) != 1 {
			return
		}
		out := make([][]byte, maxColumns)
		n, serr := splitCSV(line, out, make([]byte, 0, len(line)))
		if serr != nil {
			t.Fatalf("encoding/csv accepts %q, splitCSV: %v", line, serr)
		}
		want := recs[0]
		if n != len(want) {
			t.Fatalf("%q: %d fields, encoding/csv %d", line, n, len(want))
		}
		for i := 0; i < min(n, maxColumns); i++ {
			if string(out[i]) != want[i] {
				t.Fatalf("%q field %d: %q vs %q", line, i, out[i], want[i])
			}
		}
	})
}

// FuzzParse: never panics, counts are consistent, and the result does not
// depend on how the input is chunked (one byte at a time vs whole).
func FuzzParse(f *testing.F) {
	f.Add(genLog(genOptions{Sessions: 3, Interleave: 2, Seed: 1}))
	f.Add(genLog(genOptions{Direction: DirectionReceive, Sessions: 2, Interleave: 2, Seed: 2}))
	f.Add([]byte("#Fields: event,session-id,data,context\n*,S,,Sending certificate\n*,S,\"CN=a, O=b\",Certificate subject\n*,S,CN=a CN=b 01 " + strings.Repeat("A", 40) + " 1/1/2020 1/1/2030 a;b,Sending certificate Subject Issuer name Serial number Thumbprint Not before Not after Subject alternate names\n"))
	f.Add([]byte("\xEF\xBB\xBF#Log-Type: SMTP Receive Protocol Log\r\n\x00\x01,\"\n\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Parser{MaxLineBytes: 512, MaxOpenSessions: 8}
		a, err := p.Parse(context.Background(), bytes.NewReader(data), "SEND20200101-1.log")
		if err != nil {
			t.Fatal(err)
		}
		st := a.Stats
		if st.Bytes != int64(len(data)) || st.Rows+st.BadRows+st.HeaderLines > st.Lines || st.Sessions != int64(len(a.Sessions)) {
			t.Fatalf("inconsistent stats %+v (len %d, sessions %d)", st, len(data), len(a.Sessions))
		}
		var rows int
		for _, s := range a.Sessions {
			rows += s.Rows
			if len(s.Certificates) > maxCertsPerSession || len(s.Replies) > maxRepliesPerSession {
				t.Fatal("per-session bound exceeded")
			}
		}
		if int64(rows) != st.Rows {
			t.Fatalf("session rows %d != stats rows %d", rows, st.Rows)
		}
		b, err := p.Parse(context.Background(), iotest.OneByteReader(bytes.NewReader(data)), "SEND20200101-1.log")
		if err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("chunking changed the result:\n%s\n%s", ja, jb)
		}
		for i := range a.Sessions {
			_, _ = a.Sessions[i].FailureStatus()
		}
	})
}

// FuzzCondensedCert: the heuristic never panics and never invents a
// thumbprint that is not 40 hex digits.
func FuzzCondensedCert(f *testing.F) {
	f.Add("CN=mail.contoso.com, O=Contoso, C=NL CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US 0A1B2C3D4E5F60718293A4B5C6D7E8F9 B79D6C2E1A0F4B3C8D9E7F6A5B4C3D2E1F0A9B8C 5/1/2019 12:00:00 AM 5/1/2021 12:00:00 PM mail.contoso.com;autodiscover.contoso.com")
	f.Add(`CN=a, O="x, y" CN=b 01 ` + strings.Repeat("f", 40))
	f.Fuzz(func(t *testing.T, data string) {
		var c Certificate
		parseCondensedCert(data, &c)
		if c.Thumbprint != "" && !isHexLen(c.Thumbprint, 40, 40) {
			t.Fatalf("thumbprint %q", c.Thumbprint)
		}
	})
}
