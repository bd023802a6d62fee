package incident

import (
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func TestWithinSite(t *testing.T) {
	for _, c := range []struct {
		name string
		inc  *mxv1.Incident
		want bool
	}{
		{"its site only", &mxv1.Incident{Sites: []string{"ams"}, Members: []*mxv1.IncidentMember{{Site: "ams"}}}, true},
		{"case-insensitive", &mxv1.Incident{Sites: []string{"AMS"}}, true},
		{"spanning sites", &mxv1.Incident{Sites: []string{"ams", "lon"}}, false},
		{"a member elsewhere", &mxv1.Incident{Sites: []string{"ams"}, Members: []*mxv1.IncidentMember{{Site: "ams"}, {Site: "lon"}}}, false},
		{"root cause elsewhere", &mxv1.Incident{Sites: []string{"ams"}, RootCause: &mxv1.RootCause{Site: "lon"}}, false},
		{"no site at all (fleet)", &mxv1.Incident{RootCause: &mxv1.RootCause{Code: "TLSRPT_FAILURES"}}, false},
		{"nil", nil, false},
	} {
		if got := WithinSite(c.inc, "ams"); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if WithinSite(&mxv1.Incident{Sites: []string{"ams"}}, "") {
		t.Error("an empty scope is no site")
	}
}
