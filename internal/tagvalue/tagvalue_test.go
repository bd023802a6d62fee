package tagvalue

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	fs, err := Parse(" v=STSv1 ; id = 2024abc;; ", "STSv1")
	if err != nil || len(fs) != 2 || fs[1] != (Field{"id", "2024abc"}) {
		t.Fatalf("Parse = %v, %v", fs, err)
	}
	if _, err := Parse("id=1; v=STSv1", "STSv1"); !errors.Is(err, ErrVersion) {
		t.Fatalf("version not first: %v", err)
	}
	if _, err := Parse("v=STSv1; id", "STSv1"); !errors.Is(err, ErrNotKeyValue) || !strings.Contains(err.Error(), `"id"`) {
		t.Fatalf("field without '=': %v", err)
	}
}

func TestOne(t *testing.T) {
	parse := func(s string) (string, error) {
		if strings.Contains(s, "bad") {
			return s, errBad
		}
		return s, nil
	}
	for _, c := range []struct {
		txts []string
		r    string
		err  error
	}{
		{[]string{"google-site-verification=x", "spf1"}, "", errNone},
		{[]string{"x", " v=TLSRPTv1; rua=a "}, "v=TLSRPTv1; rua=a", nil},
		{[]string{"v=TLSRPTv1; rua=a", "v=TLSRPTv1; rua=b"}, "v=TLSRPTv1; rua=a", errInvalid},
		{[]string{"v=TLSRPTv1; rua=a", "v=TLSRPTv1; bad"}, "v=TLSRPTv1; bad", errBad},
	} {
		r, err := One(c.txts, "TLSRPTv1", parse, errNone, errInvalid)
		if r != c.r || !errors.Is(err, c.err) || (err == nil) != (c.err == nil) {
			t.Errorf("One(%q) = %q, %v; want %q, %v", c.txts, r, err, c.r, c.err)
		}
	}
	_, err := One([]string{"v=STSv1; id=1", "v=STSv1; id=2"}, "STSv1", parse, errNone, errInvalid)
	if err == nil || !strings.Contains(err.Error(), "2 STSv1 records") {
		t.Errorf("several records: %v, want the count and version", err)
	}
}

var (
	errBad     = errors.New("bad")
	errNone    = errors.New("none")
	errInvalid = errors.New("invalid")
)

// DNS answers are untrusted: parsing never panics, and what it returns
// re-parses to the same fields.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=abc", "v=TLSRPTv1; rua=mailto:a@b.c,https://x/y", "v=STSv1;;=;", "v", ";;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := Parse(s, "STSv1")
		if err != nil {
			return
		}
		var b strings.Builder
		for i, fl := range fs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(fl.Key + "=" + fl.Value)
		}
		again, err := Parse(b.String(), "STSv1")
		if err != nil || len(again) != len(fs) {
			t.Fatalf("re-parse of %q: %v (%d fields, want %d: %s)", b.String(), err, len(again), len(fs), strconv.Quote(s))
		}
	})
}
