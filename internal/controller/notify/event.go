package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Event types (Standard Webhooks "type").
const (
	TypeOpened       = "incident.opened"
	TypeUpdated      = "incident.updated"
	TypeAcknowledged = "incident.acknowledged"
	TypeResolved     = "incident.resolved"
)

// EventID is the stable id of an incident's event at a sequence: the same
// on every retry, every target and every leader.
func EventID(incidentID string, sequence uint64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", incidentID, sequence))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// nextEvent compares an incident with what was last enqueued for it and
// returns the event to enqueue and the new cursor, or nil, nil when there
// is nothing to notify. State changes are always notified; other changes
// only when a field a human cares about changed (not damping counters).
func nextEvent(inc *mxv1.Incident, cur *mxv1.NotifyCursor) (*mxv1.NotificationEvent, *mxv1.NotifyCursor) {
	if cur != nil && cur.GetSequence() >= inc.GetSequence() {
		return nil, nil
	}
	st := inc.GetState()
	digest := incidentDigest(inc)
	var typ string
	switch {
	case cur == nil:
		if st != mxv1.IncidentState_INCIDENT_STATE_OPEN && st != mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED {
			// Resolved before it was ever notified: nothing to page about.
			return nil, nil
		}
		typ = TypeOpened
	case cur.GetState() == st:
		if cur.GetDigest() == digest {
			return nil, nil
		}
		typ = TypeUpdated
	case st == mxv1.IncidentState_INCIDENT_STATE_RESOLVED:
		typ = TypeResolved
	case st == mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED:
		typ = TypeAcknowledged
	case cur.GetState() == mxv1.IncidentState_INCIDENT_STATE_RESOLVED:
		typ = TypeOpened // reopened
	default:
		typ = TypeUpdated
	}
	trimmed := proto.CloneOf(inc)
	trimmed.Members, trimmed.Timeline = nil, nil
	ev := &mxv1.NotificationEvent{
		Id: EventID(inc.GetId(), inc.GetSequence()), Type: typ, IncidentId: inc.GetId(), Fingerprint: inc.GetFingerprint(),
		Sequence: inc.GetSequence(), At: inc.GetUpdatedAt(), Incident: trimmed,
	}
	return ev, &mxv1.NotifyCursor{IncidentId: inc.GetId(), Sequence: inc.GetSequence(), State: st, Digest: digest}
}

// incidentDigest hashes the fields whose change is an incident.updated.
func incidentDigest(inc *mxv1.Incident) string {
	rc := inc.GetRootCause()
	parts := []string{
		inc.GetSeverity().String(), inc.GetSummary(), inc.GetRemediation(), inc.GetDirection().String(), inc.GetDirectionDetail(),
		strings.Join(inc.GetHosts(), ","), strings.Join(inc.GetSites(), ","), strings.Join(inc.GetAgents(), ","),
		fmt.Sprint(inc.GetStale()), rc.GetCode(), rc.GetSubject(), rc.GetHost(), rc.GetSite(),
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:12])
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
	URL             string     `json:"url,omitempty"`
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

// incidentURL links to the incident in the controller's API.
func incidentURL(external, id string) string {
	if external == "" {
		return ""
	}
	return strings.TrimSuffix(external, "/") + "/v1/incidents/" + id
}

// Data converts an incident for payloads.
func Data(inc *mxv1.Incident, externalURL string) IncidentData {
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
		URL: incidentURL(externalURL, inc.GetId()),
	}
	if rc := inc.GetRootCause(); rc != nil {
		d.RootCause = &RootCause{Code: rc.GetCode(), Subject: rc.GetSubject(), Host: rc.GetHost(), Site: rc.GetSite(), Summary: rc.GetSummary()}
	}
	return d
}
