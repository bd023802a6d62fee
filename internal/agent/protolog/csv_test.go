package protolog

import (
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"a,b,c", []string{"a", "b", "c"}, nil},
		{"", []string{""}, nil},
		{"a,", []string{"a", ""}, nil},
		{",", []string{"", ""}, nil},
		{`"a,b",c`, []string{"a,b", "c"}, nil},
		{`"he said ""hi""",x`, []string{`he said "hi"`, "x"}, nil},
		{`"",x`, []string{"", "x"}, nil},
		{`""""`, []string{`"`}, nil},
		{`x,"a""b""c",y`, []string{"x", `a"b"c`, "y"}, nil},
		{`a"b,c`, []string{`a"b`, "c"}, nil}, // lazy bare quote
		{`"abc`, nil, ErrBadQuoting},
		{`"abc"d,e`, nil, ErrBadQuoting},
		{`"a""`, nil, ErrBadQuoting},
	}
	for _, tt := range tests {
		out := make([][]byte, maxColumns)
		n, err := splitCSV([]byte(tt.in), out, make([]byte, 0, len(tt.in)))
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		var got []string
		for _, f := range out[:n] {
			got = append(got, string(f))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSplitCSVMatchesEncodingCSV cross-checks against encoding/csv on
// well-formed inputs.
func TestSplitCSVMatchesEncodingCSV(t *testing.T) {
	lines := []string{
		`2019-05-02T06:32:10.118Z,Outbound to Office 365,08D6CE8F0A2C3B11,16,10.0.0.5:28311,104.47.1.33:25,*,"CN=mail.contoso.com, O=Contoso, C=NL",Certificate subject`,
		`2019-05-02T06:32:10.118Z,"Partner, Inc. (TLS)",08D6,1,,,>,"say ""hello"", world",`,
		`a,"",b,"""",c`,
	}
	for _, l := range lines {
		r := csv.NewReader(strings.NewReader(l))
		r.FieldsPerRecord = -1
		want, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		out := make([][]byte, maxColumns)
		n, err := splitCSV([]byte(l), out, make([]byte, 0, len(l)))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range out[:n] {
			got = append(got, string(f))
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %q\nwant %q", got, want)
		}
	}
}
