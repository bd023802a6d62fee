// Package fleet derives fleet-wide views from the controller's
// replicated state: the certificate inventory (by identity, with where each
// certificate is installed or presented and when it expires) and per-site
// summaries. Everything here is a pure function of store data, shared by
// the dashboard (internal/controller/web) and the API
// (internal/controller/api).
package fleet

import (
	"net"
	"sort"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Key says whether an installation holds the certificate's private key.
type Key int

const (
	// KeyUnknown: the evidence does not say.
	KeyUnknown Key = iota
	// KeyPresent: the store holds the private key.
	KeyPresent
	// KeyMissing: the store holds the certificate without its private key.
	KeyMissing
	// KeyNotApplicable: the certificate was presented by a server; its key
	// is not visible to the agent.
	KeyNotApplicable
)

// Origin values of the evidence (internal/certdiag).
const (
	OriginStore     = "store"
	OriginPresented = "presented"
)

// Installation is one place a certificate was seen.
type Installation struct {
	// Host holding the certificate: the agent's host for a store, the
	// endpoint's host for a certificate presented by a server.
	Host string
	// Site and AgentID of the agent that reported it.
	Site, AgentID string
	// Origin is "store" or "presented" (another evidence origin is kept as is).
	Origin string
	// Store is the store location (origin store).
	Store string
	// Endpoint is host:port of the server that presented it (origin presented).
	Endpoint string
	Key      Key
	// KeyStatus is the agent's finer key status ("usable", "unusable",
	// "absent", "unknown"), when reported.
	KeyStatus string
}

// Certificate is one certificate (by thumbprint) and everywhere it was seen.
type Certificate struct {
	Thumbprint, Subject, Issuer, Serial string
	DNSNames                            []string
	// NotAfterText is the evidence's not_after as reported (RFC 3339).
	NotAfterText string
	// NotBefore and NotAfter are zero when the evidence has no valid date.
	NotBefore, NotAfter time.Time
	// Severity is the worst severity of the findings naming it.
	Severity mxv1.Severity
	// Codes of those findings, sorted.
	Codes         []string
	Installations []Installation
	// MissingKey: some store holds it without its private key.
	MissingKey bool
}

// HasNotAfter reports whether the expiry is known.
func (c *Certificate) HasNotAfter() bool { return !c.NotAfter.IsZero() }

// Identity groups the certificates sharing issuer and subject (Exchange
// selects a certificate by this pair: TlsCertificateName).
type Identity struct {
	Issuer, Subject string
	// Certificates, soonest expiry first (unknown expiry last).
	Certificates []*Certificate
	// Duplicate: an agent reported CERT_DUPLICATE_IDENTITY for it.
	Duplicate bool
	// Severity is the worst of its certificates'.
	Severity mxv1.Severity
}

// Name is the identity in Exchange's TlsCertificateName form.
func (g *Identity) Name() string { return IdentityName(g.Issuer, g.Subject) }

// IdentityName is "<I>issuer<S>subject".
func IdentityName(issuer, subject string) string { return "<I>" + issuer + "<S>" + subject }

// ReadableIdentity writes an identity name for people: "<I>issuer<S>subject"
// becomes "subject (issued by issuer)"; anything else is returned as is.
func ReadableIdentity(name string) string {
	rest, ok := strings.CutPrefix(name, "<I>")
	if !ok {
		return name
	}
	iss, sub, ok := strings.Cut(rest, "<S>")
	if !ok {
		return name
	}
	return sub + " (issued by " + iss + ")"
}

// SoonestNotAfter is the earliest known expiry of its certificates (zero if none).
func (g *Identity) SoonestNotAfter() time.Time {
	var t time.Time
	for _, c := range g.Certificates {
		if c.HasNotAfter() && (t.IsZero() || c.NotAfter.Before(t)) {
			t = c.NotAfter
		}
	}
	return t
}

// Certificates is the fleet inventory.
type Certificates struct {
	// Identities, soonest expiry first (then subject, issuer).
	Identities []*Identity
	// All certificates, soonest expiry first (then thumbprint).
	All []*Certificate
}

// Listing is one agent's certificate store as its latest round read it.
type Listing struct {
	AgentID, Site, Host string
	Certificates        []*mxv1.CertificateSummary
}

// Listings takes the store listings out of current check results (retired
// results, of checks the agents no longer run, are left out).
func Listings(results []*mxv1.CheckResultRecord) []Listing {
	var out []Listing
	for _, r := range results {
		if r.GetRetired() || len(r.GetResult().GetCertificates()) == 0 {
			continue
		}
		out = append(out, Listing{AgentID: r.GetAgentId(), Site: r.GetSite(), Host: r.GetHostname(), Certificates: r.GetResult().GetCertificates()})
	}
	return out
}

// BuildCertificates builds the inventory from the evidence of findings that
// name a certificate (evidence "thumbprint"; internal/certdiag): store
// scans and certificates presented over STARTTLS, and from the agents'
// complete store listings, so certificates without any finding appear too.
func BuildCertificates(findings []*mxv1.ObservedFinding, listings ...Listing) *Certificates {
	byTP := map[string]*Certificate{}
	seen := map[string]map[string]bool{}
	dup := map[string]bool{}
	for _, o := range findings {
		f := o.GetFinding()
		ev := f.GetEvidence()
		if f.GetCode() == "CERT_DUPLICATE_IDENTITY" {
			dup[f.GetSubject()] = true
		}
		tp := ev["thumbprint"]
		if tp == "" {
			continue
		}
		c := byTP[tp]
		if c == nil {
			c = &Certificate{Thumbprint: tp, Subject: ev["subject"], Issuer: ev["issuer"], Serial: ev["serial"], NotAfterText: ev["not_after"]}
			if ev["dns_names"] != "" {
				c.DNSNames = strings.Split(ev["dns_names"], ",")
			}
			if t, err := time.Parse(time.RFC3339, ev["not_after"]); err == nil {
				c.NotAfter = t.UTC()
			}
			if t, err := time.Parse(time.RFC3339, ev["not_before"]); err == nil {
				c.NotBefore = t.UTC()
			}
			byTP[tp] = c
			seen[tp] = map[string]bool{}
		}
		if f.GetSeverity() > c.Severity {
			c.Severity = f.GetSeverity()
		}
		if !containsFold(c.Codes, f.GetCode()) {
			c.Codes = append(c.Codes, f.GetCode())
		}
		in := Installation{Host: o.GetHostname(), Site: o.GetSite(), AgentID: o.GetAgentId(), Origin: ev["origin"], KeyStatus: ev["key_status"]}
		var key string
		if in.Origin == OriginPresented {
			in.Endpoint = ev["endpoint"]
			in.Host = endpointHost(in.Endpoint)
			in.Key = KeyNotApplicable
			key = "p\x00" + strings.ToLower(in.Endpoint) + "\x00" + in.AgentID
		} else {
			in.Store = ev["store"]
			switch ev["has_private_key"] {
			case "true":
				in.Key = KeyPresent
			case "false":
				in.Key = KeyMissing
				c.MissingKey = true
			}
			key = "s\x00" + strings.ToLower(in.Host) + "\x00" + in.Store
		}
		if !seen[tp][key] {
			seen[tp][key] = true
			c.Installations = append(c.Installations, in)
		}
	}
	for _, l := range listings {
		for _, cs := range l.Certificates {
			tp := cs.GetThumbprint()
			if tp == "" {
				continue
			}
			c := byTP[tp]
			if c == nil {
				c = &Certificate{Thumbprint: tp, Subject: cs.GetSubject(), Issuer: cs.GetIssuer(), Serial: cs.GetSerial(), DNSNames: cs.GetDnsNames()}
				if cs.GetNotAfter() != nil {
					c.NotAfter = cs.GetNotAfter().AsTime().UTC()
					c.NotAfterText = c.NotAfter.Format(time.RFC3339)
				}
				if cs.GetNotBefore() != nil {
					c.NotBefore = cs.GetNotBefore().AsTime().UTC()
				}
				byTP[tp] = c
				seen[tp] = map[string]bool{}
			}
			in := Installation{Host: l.Host, Site: l.Site, AgentID: l.AgentID, Origin: OriginStore, Store: cs.GetStore(), KeyStatus: cs.GetKeyStatus(), Key: KeyPresent}
			if !cs.GetHasPrivateKey() {
				in.Key = KeyMissing
				c.MissingKey = true
			}
			if key := "s\x00" + strings.ToLower(in.Host) + "\x00" + in.Store; !seen[tp][key] {
				seen[tp][key] = true
				c.Installations = append(c.Installations, in)
			}
		}
	}
	inv := &Certificates{}
	byID := map[string]*Identity{}
	for _, c := range byTP {
		sort.Strings(c.Codes)
		sortInstallations(c.Installations)
		inv.All = append(inv.All, c)
		id := IdentityName(c.Issuer, c.Subject)
		g := byID[id]
		if g == nil {
			g = &Identity{Issuer: c.Issuer, Subject: c.Subject, Duplicate: dup[id]}
			byID[id] = g
			inv.Identities = append(inv.Identities, g)
		}
		g.Certificates = append(g.Certificates, c)
		if c.Severity > g.Severity {
			g.Severity = c.Severity
		}
	}
	sortCertificates(inv.All)
	for _, g := range inv.Identities {
		sortCertificates(g.Certificates)
	}
	sortIdentities(inv.Identities)
	return inv
}

// CertificateFilter selects certificates; zero fields match everything.
type CertificateFilter struct {
	// ExpiringBy keeps certificates whose known expiry is at or before it
	// (expired ones included); certificates without a date are dropped.
	ExpiringBy time.Time
	// Site keeps installations reported by an agent of this site; Host
	// installations on this host (both case-insensitive). A certificate
	// with no installation left is dropped.
	Site, Host string
}

// Filter returns the identities with the certificates and installations f
// keeps, in the same order; the inventory itself is not changed.
func (inv *Certificates) Filter(f CertificateFilter) []*Identity {
	var out []*Identity
	for _, g := range inv.Identities {
		ng := *g
		ng.Certificates, ng.Severity = nil, mxv1.Severity_SEVERITY_UNSPECIFIED
		for _, c := range g.Certificates {
			if !f.ExpiringBy.IsZero() && (!c.HasNotAfter() || c.NotAfter.After(f.ExpiringBy)) {
				continue
			}
			nc := *c
			if f.Site != "" || f.Host != "" {
				nc.Installations, nc.MissingKey = nil, false
				for _, in := range c.Installations {
					if f.Site != "" && !strings.EqualFold(in.Site, f.Site) || f.Host != "" && !strings.EqualFold(in.Host, f.Host) {
						continue
					}
					nc.Installations = append(nc.Installations, in)
					nc.MissingKey = nc.MissingKey || in.Key == KeyMissing
				}
				if len(nc.Installations) == 0 {
					continue
				}
			}
			ng.Certificates = append(ng.Certificates, &nc)
			if nc.Severity > ng.Severity {
				ng.Severity = nc.Severity
			}
		}
		if len(ng.Certificates) > 0 {
			out = append(out, &ng)
		}
	}
	return out
}

// endpointHost is the host of "host:port" (the endpoint itself otherwise).
func endpointHost(ep string) string {
	if h, _, err := net.SplitHostPort(ep); err == nil {
		return h
	}
	return ep
}

// expiryLess orders known expiries first, soonest first.
func expiryLess(a, b time.Time) (less, decided bool) {
	switch {
	case a.Equal(b):
		return false, false
	case a.IsZero():
		return false, true
	case b.IsZero():
		return true, true
	}
	return a.Before(b), true
}

func sortCertificates(cs []*Certificate) {
	sort.Slice(cs, func(i, j int) bool {
		if l, ok := expiryLess(cs[i].NotAfter, cs[j].NotAfter); ok {
			return l
		}
		return cs[i].Thumbprint < cs[j].Thumbprint
	})
}

func sortIdentities(gs []*Identity) {
	sort.Slice(gs, func(i, j int) bool {
		if l, ok := expiryLess(gs[i].SoonestNotAfter(), gs[j].SoonestNotAfter()); ok {
			return l
		}
		if gs[i].Subject != gs[j].Subject {
			return gs[i].Subject < gs[j].Subject
		}
		return gs[i].Issuer < gs[j].Issuer
	})
}

func sortInstallations(ins []Installation) {
	sort.Slice(ins, func(i, j int) bool {
		a, b := ins[i], ins[j]
		for _, p := range [][2]string{{strings.ToLower(a.Host), strings.ToLower(b.Host)}, {a.Origin, b.Origin}, {a.Store, b.Store}, {a.Endpoint, b.Endpoint}, {a.AgentID, b.AgentID}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
