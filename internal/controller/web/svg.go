package web

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// ---- incident diagram: who sends to whom, which flows fail

type dNode struct {
	X, Y, W, H   int
	TX, TY, SY   int
	Label, Site  string
	Focus, Local bool
}

type dEdge struct {
	X1, Y1, X2, Y2 int
	LX, LY         int
	Fail           bool
	Text           string
}

type diagram struct {
	Width, Height int
	Nodes         []dNode
	Edges         []dEdge
	Lines         []string // the same in words, for screen readers and the caption
	Empty         bool
}

type flow struct {
	from, fromSite, to, toSite string
	fail                       bool
}

// targetHost is the host of an smtp:// target ("" when the target is local,
// e.g. a certificate store).
func targetHost(t string) string {
	if !strings.Contains(t, "://") {
		return ""
	}
	u, err := url.Parse(t)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

const maxPerSide = 8

func buildDiagram(inc *mxv1.Incident, siteOf map[string]string) diagram {
	focus := map[string]bool{}
	for _, h := range inc.GetHosts() {
		focus[strings.ToLower(h)] = true
	}
	if inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		focus = map[string]bool{strings.ToLower(hostOnly(inc.GetSubject())): true}
	}
	local := map[string]bool{}
	var flows []flow
	seen := map[string]bool{}
	add := func(f flow) {
		k := fmt.Sprint(f.from, "\x00", f.to, "\x00", f.fail)
		if !seen[k] {
			seen[k] = true
			flows = append(flows, f)
		}
	}
	for _, m := range inc.GetMembers() {
		if th := targetHost(m.GetTarget()); th != "" {
			add(flow{from: m.GetHostname(), fromSite: m.GetSite(), to: th, toSite: siteOf[strings.ToLower(th)], fail: true})
		} else {
			local[strings.ToLower(m.GetHostname())] = true
		}
	}
	var focusHosts []string
	for _, h := range inc.GetHosts() {
		if focus[strings.ToLower(h)] {
			focusHosts = append(focusHosts, h)
		}
	}
	if inc.GetScope() == mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET {
		focusHosts = []string{hostOnly(inc.GetSubject())}
	}
	touches := func(h string, out bool) bool {
		for _, f := range flows {
			if (out && strings.EqualFold(f.from, h)) || (!out && strings.EqualFold(f.to, h)) {
				return true
			}
		}
		return false
	}
	dir := inc.GetDirection()
	works := strings.Contains(strings.ToLower(inc.GetDirectionDetail()), "works")
	for _, h := range focusHosts {
		s := siteOf[strings.ToLower(h)]
		outFail := dir == mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND || dir == mxv1.FlowDirection_FLOW_DIRECTION_BOTH
		inFail := dir == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND || dir == mxv1.FlowDirection_FLOW_DIRECTION_BOTH
		if outFail && !touches(h, true) {
			add(flow{from: h, fromSite: s, to: "remote peers", fail: true})
		}
		if inFail && !touches(h, false) {
			add(flow{from: "sending peers", to: h, toSite: s, fail: true})
		}
		if works && dir == mxv1.FlowDirection_FLOW_DIRECTION_OUTBOUND && !touches(h, false) {
			add(flow{from: "sending peers", to: h, toSite: s, fail: false})
		}
		if works && dir == mxv1.FlowDirection_FLOW_DIRECTION_INBOUND && !touches(h, true) {
			add(flow{from: h, fromSite: s, to: "remote peers", fail: false})
		}
	}
	d := diagram{Width: 760}
	const nodeW, nodeH, gap, top = 250, 46, 16, 16
	leftX, rightX := 10, 760-10-nodeW
	type key struct{ name, site string }
	var lefts, rights []key
	li, ri := map[key]int{}, map[key]int{}
	for _, f := range flows {
		if _, ok := li[key{f.from, f.fromSite}]; !ok && len(lefts) < maxPerSide {
			li[key{f.from, f.fromSite}] = len(lefts)
			lefts = append(lefts, key{f.from, f.fromSite})
		}
		if _, ok := ri[key{f.to, f.toSite}]; !ok && len(rights) < maxPerSide {
			ri[key{f.to, f.toSite}] = len(rights)
			rights = append(rights, key{f.to, f.toSite})
		}
	}
	node := func(k key, x, i int) dNode {
		y := top + i*(nodeH+gap)
		n := dNode{X: x, Y: y, W: nodeW, H: nodeH, TX: x + 10, TY: y + 19, SY: y + 36, Label: clip(k.name, 34), Site: k.site,
			Focus: focus[strings.ToLower(k.name)], Local: local[strings.ToLower(k.name)]}
		return n
	}
	if len(flows) == 0 {
		// Only local evidence (a certificate store): draw the host(s) alone.
		for i, h := range focusHosts {
			if i == maxPerSide {
				break
			}
			n := node(key{h, siteOf[strings.ToLower(h)]}, (760-nodeW)/2, i)
			n.Focus, n.Local = true, true
			d.Nodes = append(d.Nodes, n)
			d.Lines = append(d.Lines, fmt.Sprintf("%s (site %s): the cause is local to this server; no failing flow observed yet", h, orDash(siteOf[strings.ToLower(h)])))
		}
		d.Height = top*2 + max(1, len(d.Nodes))*(nodeH+gap)
		d.Empty = len(d.Nodes) == 0
		return d
	}
	for i, k := range lefts {
		d.Nodes = append(d.Nodes, node(k, leftX, i))
	}
	for i, k := range rights {
		d.Nodes = append(d.Nodes, node(k, rightX, i))
	}
	for _, f := range flows {
		l, ok1 := li[key{f.from, f.fromSite}]
		r, ok2 := ri[key{f.to, f.toSite}]
		if !ok1 || !ok2 {
			continue
		}
		y1 := top + l*(nodeH+gap) + nodeH/2
		y2 := top + r*(nodeH+gap) + nodeH/2
		e := dEdge{X1: leftX + nodeW, Y1: y1, X2: rightX - 6, Y2: y2, Fail: f.fail}
		e.LX, e.LY = (e.X1+e.X2)/2, (y1+y2)/2-6
		state := "fails"
		if !f.fail {
			state = "works"
		}
		e.Text = state
		d.Edges = append(d.Edges, e)
		d.Lines = append(d.Lines, fmt.Sprintf("%s%s -> %s%s %s", f.from, siteSuffix(f.fromSite), f.to, siteSuffix(f.toSite), state))
	}
	if n := len(flows) - len(d.Edges); n > 0 {
		d.Lines = append(d.Lines, fmt.Sprintf("(%d more flows not drawn)", n))
	}
	d.Height = top*2 + max(len(lefts), len(rights))*(nodeH+gap)
	return d
}

func hostOnly(endpoint string) string {
	if i := strings.LastIndexByte(endpoint, ':'); i > 0 && !strings.Contains(endpoint[i:], "]") {
		return endpoint[:i]
	}
	return endpoint
}

func siteSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (site " + s + ")"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// ---- certificate expiry timeline (next 90 days)

type chartRow struct {
	Y, TY         int
	X, BarX, BarW int
	Label, Tip    string
	Class, Text   string
	TextX         int
	Thumbprint    string
}

type chartTick struct {
	X     int
	Label string
}

type expiryChart struct {
	Width, Height       int
	PlotX, PlotW, PlotY int
	GutterX, AxisY      int
	Rows                []chartRow
	Ticks               []chartTick
	Later, NoDate       int
	Expired             int
	Empty               bool
}

const chartDays = 90

func buildExpiryChart(certs []*certRow, now time.Time) expiryChart {
	c := expiryChart{Width: 960, PlotX: 400, PlotW: 500, GutterX: 330, PlotY: 30}
	rowH := 26
	sorted := append([]*certRow(nil), certs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].NotAfterT.Before(sorted[j].NotAfterT) })
	for _, cr := range sorted {
		if !cr.HasNotAfter {
			c.NoDate++
			continue
		}
		days := cr.NotAfterT.Sub(now).Hours() / 24
		if days > chartDays {
			c.Later++
			continue
		}
		if len(c.Rows) == 40 {
			c.Later++
			continue
		}
		y := c.PlotY + len(c.Rows)*rowH
		row := chartRow{Y: y, TY: y + 17, Thumbprint: cr.Thumbprint, Label: clip(cnOf(cr.Subject), 30) + " · " + clip(cr.Thumbprint, 10)}
		switch {
		case days < 0:
			row.X, row.Class, row.Text = c.GutterX+30, "exp-expired", cr.Left
			row.BarX, row.BarW = c.GutterX+30, 0
			c.Expired++
		default:
			row.X = c.PlotX + int(days/chartDays*float64(c.PlotW))
			row.BarX, row.BarW = c.PlotX, row.X-c.PlotX
			switch {
			case days <= 14:
				row.Class = "exp-critical"
			case days <= 30:
				row.Class = "exp-error"
			default:
				row.Class = "exp-warning"
			}
			row.Text = cr.Left
		}
		row.TextX = row.X + 10
		if row.TextX > c.PlotX+c.PlotW-70 {
			row.TextX = row.X - 120
		}
		row.Tip = fmt.Sprintf("%s (%s), not after %s: %s", cr.Subject, cr.Thumbprint, cr.NotAfter, cr.Left)
		c.Rows = append(c.Rows, row)
	}
	c.AxisY = c.PlotY + max(1, len(c.Rows))*rowH + 4
	c.Height = c.AxisY + 30
	for d := 0; d <= chartDays; d += 15 {
		x := c.PlotX + d*c.PlotW/chartDays
		c.Ticks = append(c.Ticks, chartTick{X: x, Label: now.Add(time.Duration(d) * 24 * time.Hour).UTC().Format("Jan 2")})
	}
	c.Empty = len(c.Rows) == 0
	return c
}

// cnOf returns "CN=..." of a distinguished name, else the name.
func cnOf(dn string) string {
	for _, p := range strings.Split(dn, ",") {
		if strings.HasPrefix(strings.TrimSpace(p), "CN=") {
			return strings.TrimSpace(p)
		}
	}
	return dn
}
