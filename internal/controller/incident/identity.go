package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ScopeName is the stable lower-case name of a scope, used in fingerprints.
func ScopeName(s mxv1.IncidentScope) string {
	switch s {
	case mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE:
		return "certificate"
	case mxv1.IncidentScope_INCIDENT_SCOPE_SERVER:
		return "server"
	case mxv1.IncidentScope_INCIDENT_SCOPE_SITE:
		return "site"
	case mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET:
		return "remote_target"
	case mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION:
		return "direction"
	case mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON:
		return "fleet_horizon"
	}
	return "unspecified"
}

// Fingerprint is the lowercase hex sha256 of an incident's identity: scope,
// cause and subject, separated by newlines. The observing agent is never
// part of it (observers are evidence).
func Fingerprint(scope mxv1.IncidentScope, cause, subject string) string {
	sum := sha256.Sum256([]byte(ScopeName(scope) + "\n" + cause + "\n" + subject))
	return hex.EncodeToString(sum[:])
}

// ID is the stable id of one occurrence of a fingerprint.
func ID(fingerprint string, occurrence uint32) string {
	if len(fingerprint) > 16 {
		fingerprint = fingerprint[:16]
	}
	return fmt.Sprintf("inc-%s-%d", fingerprint, occurrence)
}

// IsFingerprint reports whether s looks like a fingerprint (64 lowercase hex).
func IsFingerprint(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// StateName is the short upper-case name of a state ("OPEN").
func StateName(s mxv1.IncidentState) string {
	return strings.TrimPrefix(s.String(), "INCIDENT_STATE_")
}

// ScopeLabel is the short upper-case name of a scope ("SERVER").
func ScopeLabel(s mxv1.IncidentScope) string {
	return strings.TrimPrefix(s.String(), "INCIDENT_SCOPE_")
}

// DirectionLabel is the short upper-case name of a direction ("OUTBOUND").
func DirectionLabel(d mxv1.FlowDirection) string {
	return strings.TrimPrefix(d.String(), "FLOW_DIRECTION_")
}
