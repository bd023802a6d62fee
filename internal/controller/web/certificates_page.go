package web

// The certificates page (/certificates): the fleet inventory by identity.

import (
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/fleet"
	"github.com/mxprobe/mxprobe/internal/controller/store"
)

type install struct {
	Host, Site, Agent, Origin, Key, Where string
}

type certRow struct {
	Thumbprint, Subject, Issuer, NotAfter, DNSNames string
	NotAfterT                                       time.Time
	HasNotAfter                                     bool
	Left                                            string
	Severity                                        mxv1.Severity
	Codes                                           []string
	Installs                                        []install
	Keyless                                         bool
}

type identityGroup struct {
	Issuer, Subject string
	Certs           []*certRow
	Duplicate       bool
	Severity        mxv1.Severity
}

type certsView struct {
	Groups []*identityGroup
	Chart  expiryChart
	Count  int
}

// inventory adapts the fleet certificate inventory (internal/controller/fleet)
// to the page: worst identities first, installations as "where" lines.
func (h *Handler) inventory() ([]*identityGroup, []*certRow) {
	now := h.cfg.Now()
	stores, _ := h.cfg.State.Results(store.ResultFilter{Check: "certstore"}, store.ResultKey{}, math.MaxInt)
	inv := fleet.BuildCertificates(h.cfg.State.Findings(store.FindingFilter{}), fleet.Listings(stores)...)
	rows := map[*fleet.Certificate]*certRow{}
	row := func(c *fleet.Certificate) *certRow {
		if r := rows[c]; r != nil {
			return r
		}
		r := &certRow{Thumbprint: c.Thumbprint, Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfterText, DNSNames: strings.Join(c.DNSNames, ","),
			NotAfterT: c.NotAfter, HasNotAfter: c.HasNotAfter(), Severity: c.Severity, Codes: c.Codes, Keyless: c.MissingKey}
		if r.HasNotAfter {
			if d := c.NotAfter.Sub(now); d < 0 {
				r.Left = "expired " + ago(-d) + " ago"
			} else {
				r.Left = "in " + ago(d)
			}
		}
		for _, in := range c.Installations {
			x := install{Host: in.Host, Site: in.Site, Agent: in.AgentID, Origin: in.Origin}
			if in.Origin == fleet.OriginPresented {
				x.Host, x.Site, x.Where, x.Key = strings.TrimSuffix(in.Endpoint, ":25"), "", "presented at "+in.Endpoint+" (seen by "+in.AgentID+")", "n/a"
			} else {
				x.Where = "installed in " + in.Store
				switch in.Key {
				case fleet.KeyPresent:
					x.Key = "yes"
				case fleet.KeyMissing:
					x.Key = "NO"
				default:
					x.Key = "unknown"
				}
			}
			r.Installs = append(r.Installs, x)
		}
		sort.SliceStable(r.Installs, func(i, j int) bool {
			return r.Installs[i].Host+r.Installs[i].Where < r.Installs[j].Host+r.Installs[j].Where
		})
		rows[c] = r
		return r
	}
	var groups []*identityGroup
	for _, g := range inv.Identities {
		ig := &identityGroup{Issuer: g.Issuer, Subject: g.Subject, Duplicate: g.Duplicate, Severity: g.Severity}
		for _, c := range g.Certificates {
			ig.Certs = append(ig.Certs, row(c))
		}
		groups = append(groups, ig)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Severity != groups[j].Severity {
			return groups[i].Severity > groups[j].Severity
		}
		return groups[i].Subject+groups[i].Issuer < groups[j].Subject+groups[j].Issuer
	})
	certs := make([]*certRow, 0, len(inv.All))
	for _, c := range inv.All {
		certs = append(certs, row(c))
	}
	return groups, certs
}

func (h *Handler) certificates(w http.ResponseWriter, r *http.Request) {
	groups, certs := h.inventory()
	v := certsView{Groups: groups, Count: len(certs), Chart: buildExpiryChart(certs, h.cfg.Now())}
	h.render(w, r, http.StatusOK, "certificates", "Certificates", "certificates", v)
}
