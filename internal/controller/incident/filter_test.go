package incident

import (
	"errors"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestFilter(t *testing.T) {
	inc := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Severity: mxv1.Severity_SEVERITY_CRITICAL,
		Scope: mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, Sites: []string{"amsterdam"}, Hosts: []string{"edge02.contoso.com"}, Cause: "CERT_NO_PRIVATE_KEY"}
	pending := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_PENDING}
	for _, c := range []struct {
		f    string
		want bool
	}{
		{``, true},
		{`state = "OPEN" AND severity = "CRITICAL"`, true},
		{`state = "INCIDENT_STATE_OPEN"`, true},
		{`severity >= "ERROR" AND scope = "SERVER"`, true},
		{`severity < ERROR`, false},
		{`site = "AMSTERDAM" and host = "edge02.contoso.com"`, true},
		{`site != "amsterdam"`, false},
		{`cause = "cert_no_private_key"`, true},
		{`state = "RESOLVED"`, false},
	} {
		f, err := ParseFilter(c.f)
		if err != nil {
			t.Fatalf("%q: %v", c.f, err)
		}
		if got := f.Match(inc); got != c.want {
			t.Errorf("%q matched %v, want %v", c.f, got, c.want)
		}
	}
	if f, _ := ParseFilter(""); f.Match(pending) {
		t.Error("PENDING listed without a state clause")
	}
	if f, _ := ParseFilter(`state = "PENDING"`); !f.Match(pending) {
		t.Error("PENDING not listed with state = PENDING")
	}
	for _, bad := range []string{`updated = "yesterday"`, `updated >= "2026-11-25"`, `code >= "X"`, `updated`,
		`state`, `state =`, `foo = "x"`, `state = "NOPE"`, `site >= "x"`, `state = "OPEN" OR site = "x"`, `"state" = "OPEN"`, `state = "OPEN`, `severity = "UNSPECIFIED"`, `state ~ "OPEN"`} {
		if _, err := ParseFilter(bad); !errors.Is(err, ErrBadFilter) {
			t.Errorf("%q: err %v, want ErrBadFilter", bad, err)
		}
	}
}

func TestFilterCodeUpdated(t *testing.T) {
	at := time.Date(2026, 11, 25, 6, 32, 0, 0, time.UTC)
	inc := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Cause: "CERT_NO_PRIVATE_KEY",
		RootCause: &mxv1.RootCause{Code: "CERT_NO_PRIVATE_KEY"}, UpdatedAt: timestamppb.New(at),
		Members: []*mxv1.IncidentMember{
			{Finding: &mxv1.Finding{Code: "CERT_NO_PRIVATE_KEY"}},
			{Finding: &mxv1.Finding{Code: "SMTP_STARTTLS_FAILED"}},
		}}
	for _, c := range []struct {
		f    string
		want bool
	}{
		{`code = "CERT_NO_PRIVATE_KEY"`, true},
		{`code = "smtp_starttls_failed"`, true},
		{`code = "QUEUE_BACKLOG"`, false},
		{`code != "QUEUE_BACKLOG"`, true},
		{`code != "SMTP_STARTTLS_FAILED"`, false},
		{`updated >= "2026-11-25T06:32:00Z"`, true},
		{`updated > "2026-11-25T06:32:00Z"`, false},
		{`updated <= "2026-11-25T07:32:00+01:00"`, true},
		{`updated < "2026-11-25T06:32:00Z"`, false},
		{`updated < "2026-11-25T06:32:00.000000001Z"`, true},
		{`updated = "2026-11-25T06:32:00Z"`, true},
		{`updated != "2026-11-25T06:32:00Z"`, false},
		{`state = "OPEN" AND code = "CERT_NO_PRIVATE_KEY" AND updated >= "2026-11-25T06:32:00Z"`, true},
		{`state = "OPEN" AND code = "CERT_NO_PRIVATE_KEY" AND updated >= "2026-11-25T06:33:00Z"`, false},
	} {
		f, err := ParseFilter(c.f)
		if err != nil {
			t.Fatalf("%q: %v", c.f, err)
		}
		if got := f.Match(inc); got != c.want {
			t.Errorf("%q matched %v, want %v", c.f, got, c.want)
		}
	}
	// Only the cause carries the code when members were not stored.
	byCause := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Cause: "QUEUE_BACKLOG"}
	if f, _ := ParseFilter(`code = "QUEUE_BACKLOG"`); !f.Match(byCause) {
		t.Error("code did not match the cause")
	}
	// An incident without updated_at is older than any time given.
	if f, _ := ParseFilter(`updated >= "2000-01-01T00:00:00Z"`); f.Match(byCause) {
		t.Error("incident without updated_at matched updated >=")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{``, `code = "CERT_NO_PRIVATE_KEY"`, `updated >= "2026-11-25T06:32:00Z"`, `updated < 2026-11-25T06:32:00.5+01:00`,
		`state = "OPEN" AND code = "CERT_NO_PRIVATE_KEY" AND updated >= "2026-11-25T06:32:00Z"`, `updated = "x"`, `state = "OPEN" AND severity >= "ERROR"`, `site = amsterdam`, `host != "a\"b"`, `state = "OPEN`, `===`, `a b c AND`} {
		f.Add(s)
	}
	inc := &mxv1.Incident{State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Sites: []string{"amsterdam"}, Cause: "CERT_NO_PRIVATE_KEY",
		UpdatedAt: timestamppb.New(time.Date(2026, 11, 25, 6, 32, 0, 0, time.UTC)),
		Members:   []*mxv1.IncidentMember{{Finding: &mxv1.Finding{Code: "SMTP_STARTTLS_FAILED"}}, {}}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v does not wrap ErrBadFilter", err)
			}
			return
		}
		flt.Match(inc)
		if len(s) > MaxFilterLen {
			t.Fatal("over-long filter accepted")
		}
	})
}

func TestActLifecycle(t *testing.T) {
	inc := &mxv1.Incident{Id: "inc-1", State: mxv1.IncidentState_INCIDENT_STATE_OPEN, Sequence: 4}
	ack := &mxv1.IncidentAction{IncidentId: "inc-1", Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_ACKNOWLEDGE, Actor: "alice", Comment: "mine"}
	next, err := Act(inc, ack, nil)
	if err != nil || next.GetSequence() != 5 || next.GetState() != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED || inc.GetSequence() != 4 {
		t.Fatalf("ack: %v %v (original modified: %v)", err, next, inc.GetSequence() != 4)
	}
	if _, err := Act(next, ack, nil); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("double ack: %v", err)
	}
	res := &mxv1.IncidentAction{IncidentId: "inc-1", Action: mxv1.IncidentActionKind_INCIDENT_ACTION_KIND_RESOLVE, Actor: "bob", ExpectedSequence: 4}
	if _, err := Act(next, res, nil); !errors.Is(err, ErrStaleSequence) {
		t.Fatalf("stale: %v", err)
	}
	res.ExpectedSequence = 5
	done, err := Act(next, res, nil)
	if err != nil || done.GetState() != mxv1.IncidentState_INCIDENT_STATE_RESOLVED || done.GetTimeline()[1].GetActor() != "bob" {
		t.Fatalf("resolve: %v %v", err, done)
	}
	if _, err := Act(nil, res, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}
