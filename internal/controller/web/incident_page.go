package web

// The incident page (/incidents/{id}): summary, fix, members, timeline.

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

type memberRow struct {
	M        *mxv1.IncidentMember
	Evidence []kv
}

type kv struct{ K, V string }

type incidentView struct {
	Inc        *mxv1.Incident
	Age        string
	PowerShell string
	Members    []memberRow
	Diagram    diagram
	Refs       []kv
	Actions    actionForm
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request) {
	h.renderIncident(w, r, r.PathValue("id"), http.StatusOK, "")
}

// renderIncident renders the incident page with status code and, after a
// failed action, its error above the forms.
func (h *Handler) renderIncident(w http.ResponseWriter, r *http.Request, id string, code int, actionErr string) {
	inc := h.cfg.State.Incident(id)
	if inc == nil {
		h.renderError(w, r, http.StatusNotFound, "No incident "+id+" on this node (it may have been resolved and dropped, or this node lags the leader).")
		return
	}
	v := incidentView{Inc: inc, Age: h.since(inc.GetFirstSeen()), Actions: h.actionFormFor(r, inc)}
	v.Actions.Error = actionErr
	if actionErr != "" {
		v.Actions.Done = ""
	}
	for _, k := range slices.Sorted(maps.Keys(inc.GetExternalRefs())) {
		v.Refs = append(v.Refs, kv{k, inc.GetExternalRefs()[k]})
	}
	if inc.GetScope() != mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		// A remote target's fix is its operator's: no commands to run here.
		v.PowerShell = powershell(inc.GetRemediation())
	}
	for _, m := range inc.GetMembers() {
		row := memberRow{M: m}
		ev := m.GetFinding().GetEvidence()
		keys := make([]string, 0, len(ev))
		for k := range ev {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row.Evidence = append(row.Evidence, kv{k, ev[k]})
		}
		v.Members = append(v.Members, row)
	}
	v.Diagram = buildDiagram(inc, h.siteOfHost())
	h.render(w, r, code, "incident", inc.GetId(), "overview", v)
}

func (h *Handler) siteOfHost() map[string]string {
	m := map[string]string{}
	for _, a := range h.cfg.State.Agents("") {
		m[strings.ToLower(a.GetHostname())] = a.GetSite()
	}
	return m
}

var cmdletRe = regexp.MustCompile(`\b(?:Get|Set|New|Remove|Enable|Disable|Restart|Retry|Import|Export|Test|Start|Stop|Add|Resume|Suspend|Update|Clear|Invoke)-[A-Z][A-Za-z]+\b`)

var proseRe = regexp.MustCompile(`, [a-z]`)

// englishWord is a token no PowerShell command line holds outside quotes:
// a plain lower-case word ("for", "the", "matching").
var englishWord = regexp.MustCompile(`^[a-z]+[,;:.)]?$`)

// prose reports whether a candidate command continues as a sentence
// ("Enable-ExchangeCertificate -Services SMTP for a certificate matching
// ..."): such a line is advice, not a command to copy, so it is left out of
// the PowerShell block (it stays in the remediation text).
func prose(c string) bool {
	quoted := false
	for _, tok := range strings.Fields(c) {
		if strings.Count(tok, "'")%2 == 1 || strings.Count(tok, `"`)%2 == 1 {
			quoted = !quoted
			continue
		}
		if !quoted && englishWord.MatchString(tok) {
			return true
		}
	}
	return false
}

// powershell extracts the commands of a remediation ("On HOST remove it:
// Get-ChildItem ... | Remove-Item ; then Restart-Service X and Retry-Queue.")
// as one command per line; "" when it names no cmdlet.
func powershell(rem string) string {
	var lines []string
	for _, para := range strings.Split(rem, "\n") {
		loc := cmdletRe.FindStringIndex(para)
		if loc == nil {
			continue
		}
		cmds := para[loc[0]:]
		for _, sep := range []string{" ; then ", "; then ", " ; ", ", then "} {
			cmds = strings.ReplaceAll(cmds, sep, "\n")
		}
		for _, c := range strings.Split(cmds, "\n") {
			// "Restart-Service X and Retry-Queue": two commands.
			for {
				i := strings.Index(c, " and ")
				if i < 0 || !cmdletRe.MatchString(strings.Fields(c[i+5:] + " x")[0]) {
					break
				}
				lines = append(lines, strings.TrimSpace(c[:i]))
				c = c[i+5:]
			}
			// Prose after a command: ", update TlsCertificateName on ...".
			if m := proseRe.FindStringIndex(c); m != nil {
				c = c[:m[0]]
			}
			c = strings.TrimRight(strings.TrimSpace(c), ".")
			if c != "" && cmdletRe.MatchString(c) && !prose(c) {
				lines = append(lines, c)
			}
		}
	}
	return strings.Join(lines, "\n")
}
