package renewal

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// Agent statuses (PreflightAgent.status).
const (
	StatusPredicted   = "predicted"
	StatusStale       = "stale"
	StatusNoInventory = "no-inventory"
	StatusError       = "error"
)

// OutcomeStale replaces a stale agent's connector outcomes.
const OutcomeStale = "stale"

// Request is one fleet pre-flight.
type Request struct {
	// Agents and the Exchange connector check results (ConnectorCheck)
	// the caller may see; the hybrid rule looks at all of them.
	Agents  []*mxv1.Agent
	Results []*mxv1.CheckResultRecord
	// Site limits where the certificate is imported ("" everywhere).
	Site string
	// Scope is the caller's site scope ("" the whole fleet): Agents and
	// Results hold that site only, and a fleet check says so.
	Scope string
	// New is the parsed upload; NewFile its name (the plans' import step).
	New       certstore.Contents
	NewFile   string
	KeySource preflight.KeySource
	// Now and StaleAfter decide which agents are stale; Diag carries the
	// expiry thresholds (Now is set from Now).
	Now        time.Time
	StaleAfter time.Duration
	Diag       certdiag.Options
}

// server is one agent's prediction and what the hybrid rule needs.
type server struct {
	agent  *mxv1.Agent
	out    *mxv1.PreflightAgent
	cfg    *exchange.Config
	store  certstore.Contents
	report *preflight.Report
	inSite bool
}

// Run predicts the import on every agent of the site and checks the
// fleet-wide rules. It fails only when the upload holds no usable
// certificate (preflight.ErrNoCertificate).
func Run(req Request) (*mxv1.PreflightCertificateResponse, error) {
	if req.Now.IsZero() {
		return nil, errors.New("renewal: Now must be set")
	}
	byAgent := map[string]*mxv1.CheckResultRecord{}
	for _, r := range req.Results {
		if r.GetRetired() || r.GetResult().GetCheck() != ConnectorCheck {
			continue
		}
		if _, ok := byAgent[r.GetAgentId()]; !ok { // sorted by target: the first
			byAgent[r.GetAgentId()] = r
		}
	}
	agents := append([]*mxv1.Agent(nil), req.Agents...)
	sort.Slice(agents, func(i, j int) bool {
		if agents[i].GetSite() != agents[j].GetSite() {
			return agents[i].GetSite() < agents[j].GetSite()
		}
		return agents[i].GetAgentId() < agents[j].GetAgentId()
	})
	resp := &mxv1.PreflightCertificateResponse{EvaluatedAt: timestamppb.New(req.Now), StaleAfter: req.StaleAfter.String()}
	var servers []*server
	for _, a := range agents {
		s := &server{agent: a, inSite: req.Site == "" || strings.EqualFold(a.GetSite(), req.Site)}
		s.out = &mxv1.PreflightAgent{AgentId: a.GetAgentId(), Site: a.GetSite(), Hostname: a.GetHostname(), LastSeen: a.GetLastSeen()}
		stale := a.GetLastSeen() == nil || req.Now.Sub(a.GetLastSeen().AsTime()) > req.StaleAfter
		rec := byAgent[a.GetAgentId()]
		if rec == nil {
			s.out.Status, s.out.Detail = StatusNoInventory, "no Exchange connector check result (exchange_inventory not configured on this agent)"
			servers = append(servers, s)
			continue
		}
		s.out.ReportedAt = rec.GetCommittedAt()
		cfg, st, err := input(rec.GetResult())
		if err != nil {
			s.out.Status, s.out.Detail = StatusNoInventory, err.Error()
			if !errors.Is(err, ErrNoInventory) && !errors.Is(err, certdiag.ErrNoDER) {
				s.out.Status = StatusError
			}
			servers = append(servers, s)
			continue
		}
		s.cfg, s.store = cfg, st
		s.out.Server, s.out.Role = serverName(cfg), string(cfg.Server.Role())
		if s.inSite {
			o := req.Diag
			o.Now = req.Now
			r, err := preflight.Run(preflight.Input{Config: cfg, Store: st, New: req.New, KeySource: req.KeySource, NewFile: req.NewFile, Diag: o})
			if err != nil {
				if errors.Is(err, preflight.ErrNoCertificate) {
					return nil, err
				}
				s.out.Status, s.out.Detail = StatusError, err.Error()
				servers = append(servers, s)
				continue
			}
			s.report = &r
			fill(s.out, r, stale)
			s.out.Rollout, s.out.RolloutDetail = rollout(s, r)
			if resp.NewCertificate == nil {
				resp.NewCertificate = certMsg(r.New)
			}
		}
		servers = append(servers, s)
	}
	if resp.NewCertificate == nil {
		info, err := leafInfo(req.New)
		if err != nil {
			return nil, err
		}
		resp.NewCertificate = info
	}
	for _, s := range servers {
		if s.inSite {
			resp.Agents = append(resp.Agents, s.out)
			resp.Breaks = resp.Breaks || s.out.GetBreaks()
		}
	}
	resp.FleetChecks = hybridEdgeRule(servers, resp.NewCertificate, req)
	resp.FleetChecks = append(resp.FleetChecks, hybridEdgeToday(servers, resp.NewCertificate, req.Now)...)
	for _, c := range []*mxv1.PreflightCheck{rolloutCheck(servers), scopeCheck(req.Scope)} {
		if c != nil {
			resp.FleetChecks = append(resp.FleetChecks, c)
		}
	}
	for _, c := range resp.FleetChecks {
		if c.GetStatus() == string(preflight.Fail) {
			resp.Breaks = true
		}
	}
	return resp, nil
}

// fill copies a report into the agent's message; a stale agent's
// connectors say "stale" (the prediction is kept in predicted_outcome and
// a break still counts: the last report says it would break).
func fill(out *mxv1.PreflightAgent, r preflight.Report, stale bool) {
	out.Status = StatusPredicted
	if stale {
		out.Status = StatusStale
	}
	out.Breaks = r.Breaks
	for _, c := range r.Replaced {
		out.Replaced = append(out.Replaced, c.Thumbprint)
	}
	for _, c := range r.Connectors {
		m := &mxv1.PreflightConnector{Name: c.Name, Kind: string(c.Kind), Role: c.Role, Lookup: c.Lookup,
			Today: c.Today.Selected, AfterImport: c.Import.Selected, AfterRemoval: c.Removal.Selected,
			Outcome: string(c.Outcome), PredictedOutcome: string(c.Outcome), Codes: c.NewCodes}
		if c.Outcome == preflight.StillBroken {
			m.Codes = c.Import.Codes
		}
		if stale {
			m.Outcome = OutcomeStale
		}
		out.Connectors = append(out.Connectors, m)
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, checkMsg(c))
	}
	for _, s := range r.Plan {
		out.Plan = append(out.Plan, &mxv1.PreflightStep{Title: s.Title, Commands: s.Commands, Verify: s.Verify})
	}
}

func checkMsg(c preflight.Check) *mxv1.PreflightCheck {
	return &mxv1.PreflightCheck{Id: c.ID, Status: string(c.Status), Summary: c.Summary, Detail: c.Detail}
}

func certMsg(c preflight.CertInfo) *mxv1.PreflightCertificateInfo {
	return &mxv1.PreflightCertificateInfo{Thumbprint: c.Thumbprint, Subject: c.Subject, Issuer: c.Issuer, Names: c.Names,
		NotBefore: timestamppb.New(c.NotBefore), NotAfter: timestamppb.New(c.NotAfter), Key: c.Key, TlsCertificateName: c.TLSCertificateName}
}

// leafInfo describes the upload when no server was predicted on.
func leafInfo(c certstore.Contents) (*mxv1.PreflightCertificateInfo, error) {
	for _, x := range c.Certificates {
		if x.Cert == nil || x.Cert.IsCA {
			continue
		}
		n := exchange.TLSCertificateNameFor(x.Cert)
		return &mxv1.PreflightCertificateInfo{Thumbprint: x.Thumbprint, Subject: n.Subject, Issuer: n.Issuer, Names: exchange.CertificateNames(x.Cert),
			NotBefore: timestamppb.New(x.Cert.NotBefore), NotAfter: timestamppb.New(x.Cert.NotAfter), TlsCertificateName: n.String()}, nil
	}
	var why []string
	for _, p := range c.Problems {
		why = append(why, p.String())
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("%w (%s)", preflight.ErrNoCertificate, strings.Join(why, "; "))
	}
	return nil, preflight.ErrNoCertificate
}

func serverName(cfg *exchange.Config) string {
	if cfg.Server.Fqdn != "" {
		return cfg.Server.Fqdn
	}
	return cfg.Server.Name
}
