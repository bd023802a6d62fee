package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
)

// EventID is the stable id of an incident's event at a sequence: the same
// on every retry, every target and every leader.
func EventID(incidentID string, sequence uint64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", incidentID, sequence))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// nextEvent compares an incident with what was last enqueued for it and
// returns the event to enqueue and the new cursor, or nil, nil when there
// is nothing to notify. The event follows the incident state machine
// (incident.EventType): state changes are always notified, other changes
// only while the incident is OPEN or ACKNOWLEDGED and only when a field
// receivers show changed (not damping counters), and nothing for a
// RESOLVED incident that stays RESOLVED. The cursor moves either way.
func nextEvent(inc *mxv1.Incident, cur *mxv1.NotifyCursor) (*mxv1.NotificationEvent, *mxv1.NotifyCursor) {
	if cur != nil && cur.GetSequence() >= inc.GetSequence() {
		return nil, nil
	}
	st := inc.GetState()
	digest, refs := incidentDigest(inc), refsText(inc.GetExternalRefs())
	was := cur.GetState()
	typ := incident.EventType(was, inc, cur.GetDigest() != digest)
	if typ == "" {
		if cur == nil {
			// Resolved before it was ever notified: nothing to page about,
			// and nothing to remember either.
			return nil, nil
		}
		return nil, &mxv1.NotifyCursor{IncidentId: inc.GetId(), Sequence: inc.GetSequence(), State: was, Digest: cur.GetDigest(), Refs: cur.GetRefs()}
	}
	ev := &mxv1.NotificationEvent{
		Id: EventID(inc.GetId(), inc.GetSequence()), Type: typ, IncidentId: inc.GetId(), Fingerprint: inc.GetFingerprint(),
		Sequence: inc.GetSequence(), At: inc.GetUpdatedAt(), Incident: eventIncident(inc), PreviousState: was,
		RefsChanged: cur != nil && cur.GetRefs() != refs,
	}
	return ev, &mxv1.NotifyCursor{IncidentId: inc.GetId(), Sequence: inc.GetSequence(), State: st, Digest: digest, Refs: refs}
}

// eventIncident is the incident as an event carries it: without members,
// and with only the latest reopen of its timeline (ActiveSince) and the
// latest entry (who acted, for receivers that show it).
func eventIncident(inc *mxv1.Incident) *mxv1.Incident {
	c := proto.CloneOf(inc)
	c.Members, c.Timeline = nil, nil
	tl := inc.GetTimeline()
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].GetKind() == incident.KindReopened {
			c.Timeline = append(c.Timeline, tl[i])
			break
		}
	}
	if n := len(tl); n > 0 && (len(c.Timeline) == 0 || c.Timeline[0] != tl[n-1]) {
		c.Timeline = append(c.Timeline, tl[n-1])
	}
	return c
}

// incidentDigest hashes the fields whose change is an incident.updated.
func incidentDigest(inc *mxv1.Incident) string {
	rc := inc.GetRootCause()
	parts := []string{
		inc.GetSeverity().String(), inc.GetSummary(), inc.GetRemediation(), inc.GetDirection().String(), inc.GetDirectionDetail(),
		strings.Join(inc.GetHosts(), ","), strings.Join(inc.GetSites(), ","), strings.Join(inc.GetAgents(), ","),
		fmt.Sprint(inc.GetStale()), rc.GetCode(), rc.GetSubject(), rc.GetHost(), rc.GetSite(), refsText(inc.GetExternalRefs()),
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
}

// refsText is the external references in a stable order.
func refsText(refs map[string]string) string {
	keys := slices.Sorted(maps.Keys(refs))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + refs[k] + ";")
	}
	return b.String()
}

// IncidentData is the incident as notification payloads carry it.
type IncidentData struct {
	ID              string     `json:"id"`
	Fingerprint     string     `json:"fingerprint"`
	Sequence        uint64     `json:"sequence"`
	State           string     `json:"state"`
	Severity        string     `json:"severity"`
	Scope           string     `json:"scope"`
	Cause           string     `json:"cause"`
	Subject         string     `json:"subject"`
	Summary         string     `json:"summary"`
	Remediation     string     `json:"remediation,omitempty"`
	Direction       string     `json:"direction,omitempty"`
	DirectionDetail string     `json:"direction_detail,omitempty"`
	RootCause       *RootCause `json:"root_cause,omitempty"`
	Hosts           []string   `json:"hosts,omitempty"`
	Sites           []string   `json:"sites,omitempty"`
	Agents          []string   `json:"agents,omitempty"`
	Stale           bool       `json:"stale,omitempty"`
	Occurrence      uint32     `json:"occurrence,omitempty"`
	FirstSeen       *time.Time `json:"first_seen,omitempty"`
	OpenedAt        *time.Time `json:"opened_at,omitempty"`
	AcknowledgedAt  *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedAt      *time.Time `json:"resolved_at,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
	// AffectedSystem is what the incident is about (never the observer).
	AffectedSystem string `json:"affected_system,omitempty"`
	// ExternalRefs are tickets attached to the incident (system -> reference).
	ExternalRefs map[string]string `json:"external_refs,omitempty"`
	// URL is the incident's dashboard page; APIURL its API resource.
	URL        string `json:"url,omitempty"`
	APIURL     string `json:"api_url,omitempty"`
	RunbookURL string `json:"runbook_url,omitempty"`
}

// RootCause is the finding an incident is attributed to.
type RootCause struct {
	Code    string `json:"code"`
	Subject string `json:"subject,omitempty"`
	Host    string `json:"host,omitempty"`
	Site    string `json:"site,omitempty"`
	Summary string `json:"summary,omitempty"`
}

func tp(t *timestamppb.Timestamp) *time.Time {
	if t == nil || !t.IsValid() {
		return nil
	}
	v := t.AsTime().UTC()
	if v.IsZero() || v.Unix() == 0 {
		return nil
	}
	return &v
}

// enumName strips an enum value's type prefix: INCIDENT_STATE_OPEN -> OPEN.
func enumName(s, prefix string) string {
	s = strings.TrimPrefix(s, prefix)
	if s == "UNSPECIFIED" {
		return ""
	}
	return s
}

// Data converts an incident for payloads, linking to the controller at
// externalURL (its dashboard page and API resource).
func Data(inc *mxv1.Incident, externalURL string) IncidentData {
	return linker{external: externalURL}.data(inc)
}

func (l linker) data(inc *mxv1.Incident) IncidentData {
	d := IncidentData{
		ID: inc.GetId(), Fingerprint: inc.GetFingerprint(), Sequence: inc.GetSequence(),
		State:    enumName(inc.GetState().String(), "INCIDENT_STATE_"),
		Severity: enumName(inc.GetSeverity().String(), "SEVERITY_"),
		Scope:    enumName(inc.GetScope().String(), "INCIDENT_SCOPE_"),
		Cause:    inc.GetCause(), Subject: inc.GetSubject(), Summary: inc.GetSummary(), Remediation: inc.GetRemediation(),
		Direction:       enumName(inc.GetDirection().String(), "FLOW_DIRECTION_"),
		DirectionDetail: inc.GetDirectionDetail(),
		Hosts:           inc.GetHosts(), Sites: inc.GetSites(), Agents: inc.GetAgents(), Stale: inc.GetStale(), Occurrence: inc.GetOccurrence(),
		FirstSeen: tp(inc.GetFirstSeen()), OpenedAt: tp(inc.GetOpenedAt()), AcknowledgedAt: tp(inc.GetAcknowledgedAt()),
		ResolvedAt: tp(inc.GetResolvedAt()), UpdatedAt: tp(inc.GetUpdatedAt()),
		AffectedSystem: AffectedSystem(inc), ExternalRefs: inc.GetExternalRefs(),
		URL: l.Page(inc.GetId()), APIURL: l.API(inc.GetId()), RunbookURL: l.Runbook(inc.GetCause()),
	}
	if rc := inc.GetRootCause(); rc != nil {
		d.RootCause = &RootCause{Code: rc.GetCode(), Subject: rc.GetSubject(), Host: rc.GetHost(), Site: rc.GetSite(), Summary: rc.GetSummary()}
	}
	return d
}
