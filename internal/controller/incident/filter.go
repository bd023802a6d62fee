package incident

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ErrBadFilter marks a filter expression that does not parse.
var ErrBadFilter = errors.New("incident: bad filter")

// MaxFilterLen bounds a filter expression.
const MaxFilterLen = 1024

// Filter is a parsed list filter: a conjunction of clauses. The zero Filter
// matches every incident except PENDING ones.
type Filter struct {
	clauses  []clause
	hasState bool
}

type clause struct {
	field string
	op    string
	value string
	sev   mxv1.Severity
	at    time.Time
}

var filterFields = []string{"state", "severity", "scope", "site", "host", "agent", "cause", "code", "updated"}

// ParseFilter parses an AIP-160 subset: clauses joined by AND, each
// `field op "value"` (value quoted or a bare word); fields state, severity,
// scope, site, host, agent, cause, code (the cause or any member finding's
// code), updated (updated_at against an RFC 3339 time); ops = and != (and
// >= > <= < for severity and updated). Enum values may be short (OPEN,
// CRITICAL, SERVER) or full names.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	if len(s) > MaxFilterLen {
		return f, fmt.Errorf("%w: longer than %d characters", ErrBadFilter, MaxFilterLen)
	}
	toks, err := tokenize(s)
	if err != nil {
		return f, err
	}
	for i := 0; i < len(toks); {
		if i > 0 {
			if !strings.EqualFold(toks[i].text, "AND") || toks[i].quoted {
				return f, fmt.Errorf("%w: expected AND at %q", ErrBadFilter, toks[i].text)
			}
			i++
		}
		if i+3 > len(toks) {
			return f, fmt.Errorf("%w: incomplete clause at the end", ErrBadFilter)
		}
		c := clause{field: strings.ToLower(toks[i].text), op: toks[i+1].text, value: toks[i+2].text}
		if toks[i].quoted || !slices.Contains(filterFields, c.field) {
			return f, fmt.Errorf("%w: unknown field %q (use %s)", ErrBadFilter, toks[i].text, strings.Join(filterFields, ", "))
		}
		if err := c.check(); err != nil {
			return f, err
		}
		if c.field == "state" {
			f.hasState = true
		}
		f.clauses = append(f.clauses, c)
		i += 3
	}
	return f, nil
}

func (c *clause) check() error {
	switch c.op {
	case "=", "!=":
	case ">=", ">", "<=", "<":
		if c.field != "severity" && c.field != "updated" {
			return fmt.Errorf("%w: %s only takes = or !=", ErrBadFilter, c.field)
		}
	default:
		return fmt.Errorf("%w: unknown operator %q", ErrBadFilter, c.op)
	}
	v := strings.ToUpper(c.value)
	switch c.field {
	case "state":
		name := "INCIDENT_STATE_" + strings.TrimPrefix(v, "INCIDENT_STATE_")
		if _, ok := mxv1.IncidentState_value[name]; !ok || strings.HasSuffix(name, "UNSPECIFIED") {
			return fmt.Errorf("%w: unknown state %q (PENDING, OPEN, ACKNOWLEDGED, RESOLVED)", ErrBadFilter, c.value)
		}
		c.value = name
	case "scope":
		if _, ok := mxv1.IncidentScope_value["INCIDENT_SCOPE_"+strings.TrimPrefix(v, "INCIDENT_SCOPE_")]; !ok || strings.HasSuffix(v, "UNSPECIFIED") {
			return fmt.Errorf("%w: unknown scope %q", ErrBadFilter, c.value)
		}
		c.value = "INCIDENT_SCOPE_" + strings.TrimPrefix(v, "INCIDENT_SCOPE_")
	case "severity":
		n, ok := mxv1.Severity_value["SEVERITY_"+strings.TrimPrefix(v, "SEVERITY_")]
		if !ok || strings.HasSuffix(v, "UNSPECIFIED") {
			return fmt.Errorf("%w: unknown severity %q", ErrBadFilter, c.value)
		}
		c.sev = mxv1.Severity(n)
	case "updated":
		at, err := time.Parse(time.RFC3339Nano, c.value)
		if err != nil {
			return fmt.Errorf("%w: updated takes an RFC 3339 time such as \"2026-11-25T06:32:00Z\", not %q", ErrBadFilter, c.value)
		}
		c.at = at
	}
	return nil
}

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			i++
		case ch == '"':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("%w: unterminated string", ErrBadFilter)
			}
			out = append(out, token{text: b.String(), quoted: true})
			i = j + 1
		case strings.IndexByte("=!<>", ch) >= 0:
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, token{text: s[i:j]})
			i = j
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\n\r\"=!<>", s[j]) < 0 {
				j++
			}
			out = append(out, token{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// Match reports whether inc satisfies every clause. Without a state clause
// PENDING incidents never match.
func (f Filter) Match(inc *mxv1.Incident) bool {
	if !f.hasState && inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_PENDING {
		return false
	}
	for _, c := range f.clauses {
		if !c.match(inc) {
			return false
		}
	}
	return true
}

func (c clause) match(inc *mxv1.Incident) bool {
	var eq bool
	switch c.field {
	case "state":
		eq = inc.GetState().String() == c.value
	case "scope":
		eq = inc.GetScope().String() == c.value
	case "cause":
		eq = strings.EqualFold(inc.GetCause(), c.value)
	case "site":
		eq = containsFold(inc.GetSites(), c.value)
	case "host":
		eq = containsFold(inc.GetHosts(), c.value)
	case "agent":
		eq = containsFold(inc.GetAgents(), c.value)
	case "code":
		eq = hasCode(inc, c.value)
	case "updated":
		u := inc.GetUpdatedAt().AsTime()
		switch c.op {
		case ">=":
			return !u.Before(c.at)
		case ">":
			return u.After(c.at)
		case "<=":
			return !u.After(c.at)
		case "<":
			return u.Before(c.at)
		}
		eq = u.Equal(c.at)
	case "severity":
		switch s := inc.GetSeverity(); c.op {
		case ">=":
			return s >= c.sev
		case ">":
			return s > c.sev
		case "<=":
			return s <= c.sev
		case "<":
			return s < c.sev
		}
		eq = inc.GetSeverity() == c.sev
	}
	if c.op == "!=" {
		return !eq
	}
	return eq
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

// hasCode reports whether the incident's cause, root cause or any stored
// member finding carries code.
func hasCode(inc *mxv1.Incident, code string) bool {
	if strings.EqualFold(inc.GetCause(), code) || strings.EqualFold(inc.GetRootCause().GetCode(), code) {
		return true
	}
	for _, m := range inc.GetMembers() {
		if strings.EqualFold(m.GetFinding().GetCode(), code) {
			return true
		}
	}
	return false
}
