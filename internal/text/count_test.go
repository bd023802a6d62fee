package text

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int
		noun string
		want string
	}{
		{0, "symptom", "0 symptoms"},
		{1, "symptom", "1 symptom"},
		{2, "symptom", "2 symptoms"},
		{1, "peer observation", "1 peer observation"},
		{3, "peer observation", "3 peer observations"},
		{2, "address", "2 addresses"},
		{2, "policy", "2 policies"},
		{2, "key", "2 keys"},
		{2, "match", "2 matches"},
		{2, "box", "2 boxes"},
		{-1, "server", "-1 servers"},
	} {
		if got := Count(c.n, c.noun); got != c.want {
			t.Errorf("Count(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
	if got := CountAs(1, "child", "children"); got != "1 child" {
		t.Errorf("CountAs(1) = %q", got)
	}
	if got := CountAs(4, "child", "children"); got != "4 children" {
		t.Errorf("CountAs(4) = %q", got)
	}
	if got := Noun(1, "site"); got != "site" {
		t.Errorf("Noun(1) = %q", got)
	}
	if got := Noun(2, "site"); got != "sites" {
		t.Errorf("Noun(2) = %q", got)
	}
	if got := Plural(""); got != "" {
		t.Errorf("Plural(\"\") = %q", got)
	}
}

func TestList(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a and b"},
		{[]string{"a", "b", "c"}, "a, b and c"},
	} {
		if got := List(c.in); got != c.want {
			t.Errorf("List(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
