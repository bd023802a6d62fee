package diagnose

import (
	"fmt"
	"net"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Observed behaviour beats simulation.
//
// Connector findings come from simulating Exchange's certificate selection
// over a configuration and a store; protocol logs record what transport
// actually did. When Link joins a connector finding to a log finding that
// observed the same connector, observe rewrites the connector finding so it
// follows the observation: its severity rises to what the observation proves
// and its text says what was seen. The rewrite is idempotent (Link may run
// again over the same findings): every observation is recorded in the
// evidence once, keyed by what was observed.

// Evidence keys set by observe.
const (
	evObserved         = "observed"            // where the observation comes from, e.g. "protocol-log"
	evObservedSent     = "observed_thumbprint" // comma list of thumbprints observed sent
	evRaisedFrom       = "severity_before_observation"
	evSimulatedChoice  = "simulated_thumbprint"
	evObservedSessions = "observed_sessions"
)

// observe applies what symptom s observed to its cause c.
func observe(c, s *node) {
	if c == nil || s == nil {
		return
	}
	switch {
	case c.is(finding.ConnectorNoTLSCertName) && s.is(finding.LogSelfSignedSent):
		tp := s.ev(finding.EvThumbprintSent)
		sentence := fmt.Sprintf("The %s protocol log shows it presented self-signed certificate %s (%s) to Exchange Online in %s sessions (last %s): hybrid mail from Exchange Online to this connector fails.",
			s.ev(finding.EvDirection), tp, text.OrDash(s.ev("certificate_subject")), text.OrDash(s.ev("exchange_online_sessions")), text.OrDash(s.ev("last_seen")))
		for _, f := range c.all {
			if !recordObservation(f, tp, sentence, s) {
				continue
			}
			raise(f, mxv1.Severity_SEVERITY_ERROR)
			f.Evidence["certain"] = "true"
		}
	case c.is(finding.ConnectorCertAmbiguous) && s.is(finding.LogUnexpectedCertSent):
		what := fmt.Sprintf("the %s protocol log shows %s was sent (%s sessions, %s failed, last %s)",
			s.ev(finding.EvDirection), s.ev(finding.EvThumbprintSent), text.OrDash(s.ev("count")), text.OrDash(s.ev("failed")), text.OrDash(s.ev("last_seen")))
		overrideChoice(c, s.ev(finding.EvThumbprintSent), what, s)
	}
}

// observeSends lets a log that shows a connector presenting its intended
// (keyed) certificate, where the simulation picks another, correct the
// connector findings: an ambiguous one says what was sent; one that says the
// connector would present a keyless certificate becomes a warning that says
// transport currently presents the keyed one and may switch after a restart.
func observeSends(nodes []*node) {
	for _, s := range nodes {
		if !s.is(finding.LogCertSent) {
			continue
		}
		sent := s.ev(finding.EvThumbprintSent)
		what := fmt.Sprintf("the %s protocol log shows %s was sent (%s sessions, %s with TLS negotiated, last %s)",
			s.ev(finding.EvDirection), sent, text.OrDash(s.ev("count")), text.OrDash(s.ev("succeeded")), text.OrDash(s.ev("last_seen")))
		for _, c := range nodes {
			if !sameConnector(c, s) {
				continue
			}
			switch {
			case c.is(finding.ConnectorCertAmbiguous):
				overrideChoice(c, sent, what, s)
			case c.is(finding.ConnectorSelectsKeyless) && !slices.Contains(c.list(finding.EvKeyless), sent):
				sentence := fmt.Sprintf("Observed: %s, a certificate with a usable key: transport presents it now. Transport caches its choice until MSExchangeTransport restarts; a build picking the other rule may then present %s, so fix it before the next restart.",
					what, text.OrDash(c.ev(finding.EvKeyless)))
				for _, f := range c.all {
					if recordObservation(f, sent, sentence, s) {
						lower(f, mxv1.Severity_SEVERITY_WARNING)
					}
				}
			}
		}
	}
}

// observeHandshakes lets a live handshake override an ambiguous receive
// connector's simulated choice: a certificate presented by a probe that is
// one of the connector's candidates (they are this server's certificates)
// but not the one the simulation picks shows what transport really picks.
func observeHandshakes(nodes []*node) {
	for _, c := range nodes {
		if !c.is(finding.ConnectorCertAmbiguous) || c.ev(finding.EvConnectorKind) != "receive" {
			continue
		}
		for _, n := range nodes {
			if !slices.Contains(c.list(finding.EvCandidates), n.key.subject) {
				continue
			}
			// A store finding and a probe finding about one certificate
			// share a node; the probe's is the observation.
			for _, f := range n.all {
				p := &node{key: n.key, f: f}
				if p.ev("origin") != "presented" || p.ev("endpoint") == "" || !probesThisServer(c, p.ev("endpoint")) {
					continue
				}
				overrideChoice(c, n.key.subject, fmt.Sprintf("a live STARTTLS handshake with %s presented %s", p.ev("endpoint"), n.key.subject), p)
			}
		}
	}
}

// overrideChoice makes an ambiguous connector finding follow the
// certificate observed in use (sent) instead of the simulated pick, saying
// which rule the observation matches.
func overrideChoice(c *node, sent, what string, s *node) {
	sim := c.ev(evSimulatedChoice)
	if sim == "" {
		sim = c.ev(finding.EvSelected)
	}
	if sent == "" || sent == sim {
		return
	}
	var rule string
	cands := c.list(finding.EvCandidates)
	byRule := map[string]string{}
	for _, kv := range c.list(finding.EvSelectionByRule) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			byRule[k] = v
		}
	}
	switch {
	case len(cands) > 0 && sent == cands[0]:
		rule = "this build picks the first match, not the newest"
	case byRule["latest-expiring"] == sent:
		rule = "this build picks the latest-expiring match, not the first"
	default:
		rule = "it matches no selection rule on the store as read here: the server's store order may differ from this copy, or transport still uses a choice it cached before the store changed (it caches until MSExchangeTransport restarts)"
	}
	sentence := fmt.Sprintf("%s; %s (the simulation picked %s).", what, rule, text.OrDash(sim))
	for _, f := range c.all {
		if f.Evidence == nil {
			f.Evidence = map[string]string{}
		}
		if _, ok := f.Evidence[evSimulatedChoice]; !ok {
			f.Evidence[evSimulatedChoice] = sim
		}
		old := "; transport picks " + text.OrDash(sim)
		if !recordObservation(f, sent, "", s) {
			continue
		}
		f.Evidence[finding.EvSelected] = sent
		f.Evidence["observed_rule"] = rule
		if i := strings.LastIndex(f.Summary, old); i >= 0 && i+len(old) == len(f.Summary) {
			f.Summary = f.Summary[:i] + ": " + sentence
		} else {
			f.Summary = strings.TrimRight(f.Summary, " ") + " Observed: " + sentence
		}
	}
}

// recordObservation adds one observed thumbprint to f's evidence and
// sentence to its summary, once; false when f already records it.
func recordObservation(f *mxv1.Finding, tp, sentence string, s *node) bool {
	if f.Evidence == nil {
		f.Evidence = map[string]string{}
	}
	seen := splitList(f.Evidence[evObservedSent])
	if tp == "" || slices.Contains(seen, tp) {
		return false
	}
	f.Evidence[evObservedSent] = strings.Join(append(seen, tp), ",")
	f.Evidence[evObserved] = s.ev("origin")
	if v := s.ev("sessions"); v != "" {
		f.Evidence[evObservedSessions] = v
	}
	if sentence != "" {
		f.Summary = strings.TrimRight(f.Summary, " ") + " " + sentence
	}
	return true
}

// lower drops f to at most sev, remembering the severity it had.
func lower(f *mxv1.Finding, sev mxv1.Severity) {
	if f.Severity <= sev {
		return
	}
	if _, ok := f.Evidence[evRaisedFrom]; !ok {
		f.Evidence[evRaisedFrom] = finding.SeverityName(f.Severity)
	}
	f.Severity = sev
}

// raise lifts f to at least sev, remembering the severity it had.
func raise(f *mxv1.Finding, sev mxv1.Severity) {
	if f.Severity >= sev {
		return
	}
	if _, ok := f.Evidence[evRaisedFrom]; !ok {
		f.Evidence[evRaisedFrom] = finding.SeverityName(f.Severity)
	}
	f.Severity = sev
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// probesThisServer: the handshake was with the server the connector is on
// (loopback, or the server's own name or FQDN). A connector's Fqdn or an MX
// name does not prove it: Edge servers share certificates and names behind
// a load balancer, so another server may have answered.
func probesThisServer(c *node, endpoint string) bool {
	host := strings.ToLower(endpointHost(endpoint))
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, k := range []string{finding.EvServerName, finding.EvServerFqdn} {
		if v := strings.ToLower(strings.TrimSuffix(c.ev(k), ".")); v != "" && v == strings.TrimSuffix(host, ".") {
			return true
		}
	}
	return false
}
