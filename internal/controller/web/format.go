package web

// Formatting shared by the pages: template functions, durations, the
// incident listing every page starts from.

import (
	"fmt"
	"html/template"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/fleet"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

var funcs = template.FuncMap{
	"sevClass": func(s mxv1.Severity) string {
		if s == mxv1.Severity_SEVERITY_UNSPECIFIED {
			return "sev-none"
		}
		return "sev-" + strings.ToLower(finding.SeverityName(s))
	},
	"sevName": func(s mxv1.Severity) string {
		if s == mxv1.Severity_SEVERITY_UNSPECIFIED {
			return "OK"
		}
		return finding.SeverityName(s)
	},
	"stateName": incident.StateName,
	"scopeName": incident.ScopeLabel,
	"dirName": func(d mxv1.FlowDirection) string {
		if d == mxv1.FlowDirection_FLOW_DIRECTION_UNSPECIFIED {
			return "not determined"
		}
		return incident.DirectionLabel(d)
	},
	"iso": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return ""
		}
		return t.AsTime().UTC().Format(time.RFC3339)
	},
	"when": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04:05 UTC")
	},
	// readable writes identity names ("<I>issuer<S>subject") for people.
	"readable": fleet.ReadableIdentity,
	"join":     strings.Join,
	"lower":    strings.ToLower,
	"add":      func(a, b int) int { return a + b },
	"half":     func(a int) int { return a / 2 },
	"count":    text.Count,
}

// ago renders a duration for humans: "45s", "12m", "3h", "4d".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func (h *Handler) since(t *timestamppb.Timestamp) string {
	if t == nil {
		return "—"
	}
	return ago(h.cfg.Now().Sub(t.AsTime()))
}

// allIncidents lists every incident, PENDING included, worst and newest first.
func (h *Handler) allIncidents() []*mxv1.Incident {
	out := h.cfg.State.Incidents(incident.Filter{})
	if pf, err := incident.ParseFilter(`state = "PENDING"`); err == nil {
		out = append(out, h.cfg.State.Incidents(pf)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return incident.Less(out[i], out[j]) })
	return out
}
