package exporter

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/controller/fleet"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/version"
)

// State is what the exporter reads; *store.State implements it.
type State interface {
	Agents(site string) []*mxv1.Agent
	Findings(f store.FindingFilter) []*mxv1.ObservedFinding
	Results(f store.ResultFilter, after store.ResultKey, limit int) ([]*mxv1.CheckResultRecord, *store.ResultKey)
	Incidents(f incident.Filter) []*mxv1.Incident
	NotifyTargets() []*mxv1.NotifyTargetStatus
	Deliveries(target string, status mxv1.DeliveryStatus) []*mxv1.Delivery
}

// Config configures the collector.
type Config struct {
	State State
	// Targets are the configured notification targets (exported at zero
	// before their first failure, so rate() works from the start).
	Targets []string
	// MaxSeries bounds each family (default 20000).
	MaxSeries int
}

// MaxLabelLength cuts label values (hostnames, targets and common names are
// shorter; anything longer is not a name).
const MaxLabelLength = 128

// ProbeCheck is the live STARTTLS probe's check name.
const ProbeCheck = "smtp_probe"

// Collector is the fleet collector; register it with a prometheus.Registry.
type Collector struct {
	cfg Config

	buildInfo, notAfter, notBefore, keyPresent, duplicate *prometheus.Desc
	probeSuccess, probeDuration, probeTLS, probeTime      *prometheus.Desc
	findings, incidents, agentSeen, agents                *prometheus.Desc
	failedAttempts, failedDeliveries, deliveries, dropped *prometheus.Desc
}

var (
	certLabels  = []string{"thumbprint", "subject_cn", "issuer_cn", "host", "site", "store"}
	probeLabels = []string{"agent", "site", "host", "target"}
)

// New returns the collector.
func New(cfg Config) *Collector {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 20000
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &Collector{
		cfg:       cfg,
		buildInfo: d("mxprobe_build_info", "Always 1; the controller's version and Go version as labels.", "version", "goversion"),
		notAfter: d("mxprobe_certificate_not_after_timestamp_seconds",
			"Expiry (NotAfter) of a certificate where an agent found it: a store (store label) or presented by a server (store empty), in seconds since the epoch.", certLabels...),
		notBefore: d("mxprobe_certificate_not_before_timestamp_seconds",
			"Start of validity (NotBefore) of a certificate where an agent found it, in seconds since the epoch.", certLabels...),
		keyPresent: d("mxprobe_certificate_private_key_present",
			"1 when the store holds the certificate's private key, 0 when it holds the certificate without it (certificates in stores only).", certLabels...),
		duplicate: d("mxprobe_certificate_duplicate_identity",
			"Certificates sharing one issuer and subject in one store of one host (Exchange picks one of them by TlsCertificateName), as reported by the agent (CERT_DUPLICATE_IDENTITY).",
			"subject_cn", "issuer_cn", "host", "site", "store"),
		probeSuccess: d("mxprobe_probe_success",
			"1 when an agent's latest live STARTTLS probe of the target succeeded (no finding of ERROR or worse), else 0.", probeLabels...),
		probeDuration: d("mxprobe_probe_duration_seconds", "How long an agent's latest probe of the target took.", probeLabels...),
		probeTLS: d("mxprobe_probe_tls_version_info",
			"Always 1 for the TLS version an agent's latest probe of the target negotiated (version label, e.g. \"TLS 1.2\").", append(probeLabels, "version")...),
		probeTime: d("mxprobe_probe_timestamp_seconds", "When an agent's latest probe of the target started (agent clock), in seconds since the epoch.", probeLabels...),
		findings: d("mxprobe_findings_open",
			"Findings in the agents' latest results, by code and severity, per host and site.", "code", "severity", "host", "site"),
		incidents: d("mxprobe_incidents_open",
			"Unresolved incidents by scope, severity and state (open or acknowledged); every combination is exported, 0 when none.", "scope", "severity", "state"),
		agentSeen: d("mxprobe_agent_last_seen_timestamp_seconds", "When the controllers last heard from an agent, in seconds since the epoch.", "agent", "site", "host"),
		agents:    d("mxprobe_agents", "Agents known to the cluster, per site.", "site"),
		failedAttempts: d("mxprobe_notify_failed_attempts_total",
			"Notification attempts that failed (each retry counts), per target, since the cluster was created.", "target"),
		failedDeliveries: d("mxprobe_notify_failed_deliveries_total",
			"Notifications given up (FAILED: permanent answer or retry window over), per target, since the cluster was created.", "target"),
		deliveries: d("mxprobe_notify_deliveries", "Notification deliveries kept in the replicated outbox, per target and status.", "target", "status"),
		dropped:    d("mxprobe_exporter_series_dropped", "Series left out of the last scrape because a family reached its limit, per family.", "family"),
	}
}

// Describe sends every family's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.notAfter, c.notBefore, c.keyPresent, c.duplicate, c.probeSuccess, c.probeDuration,
		c.probeTLS, c.probeTime, c.findings, c.incidents, c.agentSeen, c.agents, c.failedAttempts, c.failedDeliveries, c.deliveries, c.dropped} {
		ch <- d
	}
}

// family emits one family's series, each label set once, within the bound.
type family struct {
	c       *Collector
	ch      chan<- prometheus.Metric
	desc    *prometheus.Desc
	name    string
	typ     prometheus.ValueType
	seen    map[string]bool
	dropped int
}

func (c *Collector) family(ch chan<- prometheus.Metric, desc *prometheus.Desc, name string, typ prometheus.ValueType) *family {
	return &family{c: c, ch: ch, desc: desc, name: name, typ: typ, seen: map[string]bool{}}
}

// add emits a series unless its label set was emitted already (the first
// value wins) or the family is full.
func (f *family) add(v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = clipLabel(l)
	}
	key := strings.Join(labels, "\x00")
	if f.seen[key] {
		return
	}
	if len(f.seen) >= f.c.cfg.MaxSeries {
		f.dropped++
		return
	}
	f.seen[key] = true
	f.ch <- prometheus.MustNewConstMetric(f.desc, f.typ, v, labels...)
}

func (f *family) done(dropped *family) {
	dropped.add(float64(f.dropped), f.name)
}

// Collect computes the families from the state.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.cfg.State
	dropped := c.family(ch, c.dropped, "mxprobe_exporter_series_dropped", prometheus.GaugeValue)
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, version.String(), runtime.Version())

	findings := st.Findings(store.FindingFilter{})
	results, _ := st.Results(store.ResultFilter{}, store.ResultKey{}, math.MaxInt)
	c.collectCertificates(ch, dropped, findings, results)
	c.collectProbes(ch, dropped, results)

	fs := c.family(ch, c.findings, "mxprobe_findings_open", prometheus.GaugeValue)
	counts := map[[4]string]int{}
	var order [][4]string
	for _, o := range findings {
		k := [4]string{o.GetFinding().GetCode(), severity(o.GetFinding().GetSeverity()), o.GetHostname(), o.GetSite()}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	for _, k := range order {
		fs.add(float64(counts[k]), k[0], k[1], k[2], k[3])
	}
	fs.done(dropped)

	c.collectIncidents(ch)
	c.collectAgents(ch, dropped)
	c.collectNotify(ch)
}

func (c *Collector) collectCertificates(ch chan<- prometheus.Metric, dropped *family, findings []*mxv1.ObservedFinding, results []*mxv1.CheckResultRecord) {
	inv := fleet.BuildCertificates(findings, fleet.Listings(results)...)
	na := c.family(ch, c.notAfter, "mxprobe_certificate_not_after_timestamp_seconds", prometheus.GaugeValue)
	nb := c.family(ch, c.notBefore, "mxprobe_certificate_not_before_timestamp_seconds", prometheus.GaugeValue)
	kp := c.family(ch, c.keyPresent, "mxprobe_certificate_private_key_present", prometheus.GaugeValue)
	for _, cert := range inv.All {
		subj, iss := CommonName(cert.Subject), CommonName(cert.Issuer)
		for _, in := range cert.Installations {
			labels := func() []string { return []string{cert.Thumbprint, subj, iss, in.Host, in.Site, in.Store} }
			if cert.HasNotAfter() {
				na.add(seconds(cert.NotAfter), labels()...)
			}
			if !cert.NotBefore.IsZero() {
				nb.add(seconds(cert.NotBefore), labels()...)
			}
			switch in.Key {
			case fleet.KeyPresent:
				kp.add(1, labels()...)
			case fleet.KeyMissing:
				kp.add(0, labels()...)
			}
		}
	}
	na.done(dropped)
	nb.done(dropped)
	kp.done(dropped)

	dup := c.family(ch, c.duplicate, "mxprobe_certificate_duplicate_identity", prometheus.GaugeValue)
	for _, o := range findings {
		f := o.GetFinding()
		if f.GetCode() != "CERT_DUPLICATE_IDENTITY" {
			continue
		}
		ev := f.GetEvidence()
		n := 0
		for _, tp := range strings.Split(ev["thumbprints"], ",") {
			if strings.TrimSpace(tp) != "" {
				n++
			}
		}
		dup.add(float64(max(n, 2)), CommonName(ev["subject"]), CommonName(ev["issuer"]), o.GetHostname(), o.GetSite(), ev["store"])
	}
	dup.done(dropped)
}

func (c *Collector) collectProbes(ch chan<- prometheus.Metric, dropped *family, results []*mxv1.CheckResultRecord) {
	ok := c.family(ch, c.probeSuccess, "mxprobe_probe_success", prometheus.GaugeValue)
	dur := c.family(ch, c.probeDuration, "mxprobe_probe_duration_seconds", prometheus.GaugeValue)
	tv := c.family(ch, c.probeTLS, "mxprobe_probe_tls_version_info", prometheus.GaugeValue)
	at := c.family(ch, c.probeTime, "mxprobe_probe_timestamp_seconds", prometheus.GaugeValue)
	for _, r := range results {
		res := r.GetResult()
		if r.GetRetired() || res.GetCheck() != ProbeCheck {
			continue
		}
		labels := func() []string { return []string{r.GetAgentId(), r.GetSite(), r.GetHostname(), res.GetTarget()} }
		v := 0.0
		if res.GetStatus() == mxv1.CheckStatus_CHECK_STATUS_OK {
			v = 1
		}
		ok.add(v, labels()...)
		if d := res.GetDuration(); d != nil {
			dur.add(d.AsDuration().Seconds(), labels()...)
		}
		if s := res.GetStartedAt(); s != nil {
			at.add(seconds(s.AsTime()), labels()...)
		}
		if ver := res.GetTls().GetVersion(); ver != "" {
			tv.add(1, append(labels(), ver)...)
		}
	}
	for _, f := range []*family{ok, dur, tv, at} {
		f.done(dropped)
	}
}

var (
	scopes = []mxv1.IncidentScope{mxv1.IncidentScope_INCIDENT_SCOPE_CERTIFICATE, mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, mxv1.IncidentScope_INCIDENT_SCOPE_SITE,
		mxv1.IncidentScope_INCIDENT_SCOPE_REMOTE_TARGET, mxv1.IncidentScope_INCIDENT_SCOPE_DIRECTION, mxv1.IncidentScope_INCIDENT_SCOPE_FLEET_HORIZON}
	severities = []mxv1.Severity{mxv1.Severity_SEVERITY_INFO, mxv1.Severity_SEVERITY_WARNING, mxv1.Severity_SEVERITY_ERROR, mxv1.Severity_SEVERITY_CRITICAL}
	active     = []mxv1.IncidentState{mxv1.IncidentState_INCIDENT_STATE_OPEN, mxv1.IncidentState_INCIDENT_STATE_ACKNOWLEDGED}
)

func (c *Collector) collectIncidents(ch chan<- prometheus.Metric) {
	type key struct {
		scope mxv1.IncidentScope
		sev   mxv1.Severity
		state mxv1.IncidentState
	}
	counts := map[key]int{}
	for _, inc := range c.cfg.State.Incidents(incident.Filter{}) {
		if incident.Unresolved(inc) {
			counts[key{inc.GetScope(), inc.GetSeverity(), inc.GetState()}]++
		}
	}
	for _, sc := range scopes {
		for _, sev := range severities {
			for _, s := range active {
				ch <- prometheus.MustNewConstMetric(c.incidents, prometheus.GaugeValue, float64(counts[key{sc, sev, s}]),
					incident.ScopeName(sc), severity(sev), strings.ToLower(incident.StateName(s)))
			}
		}
	}
}

func (c *Collector) collectAgents(ch chan<- prometheus.Metric, dropped *family) {
	seen := c.family(ch, c.agentSeen, "mxprobe_agent_last_seen_timestamp_seconds", prometheus.GaugeValue)
	perSite := map[string]int{}
	var sites []string
	for _, a := range c.cfg.State.Agents("") {
		if perSite[a.GetSite()] == 0 {
			sites = append(sites, a.GetSite())
		}
		perSite[a.GetSite()]++
		if ls := a.GetLastSeen(); ls != nil {
			seen.add(seconds(ls.AsTime()), a.GetAgentId(), a.GetSite(), a.GetHostname())
		}
	}
	seen.done(dropped)
	sf := c.family(ch, c.agents, "mxprobe_agents", prometheus.GaugeValue)
	for _, s := range sites {
		sf.add(float64(perSite[s]), s)
	}
	sf.done(dropped)
}

func (c *Collector) collectNotify(ch chan<- prometheus.Metric) {
	st := c.cfg.State
	byName := map[string]*mxv1.NotifyTargetStatus{}
	names := append([]string(nil), c.cfg.Targets...)
	for _, ts := range st.NotifyTargets() {
		byName[ts.GetName()] = ts
		if !slices.Contains(names, ts.GetName()) {
			names = append(names, ts.GetName())
		}
	}
	statuses := []mxv1.DeliveryStatus{mxv1.DeliveryStatus_DELIVERY_STATUS_PENDING, mxv1.DeliveryStatus_DELIVERY_STATUS_DELIVERED, mxv1.DeliveryStatus_DELIVERY_STATUS_FAILED}
	counts := map[string]map[mxv1.DeliveryStatus]int{}
	for _, d := range st.Deliveries("", mxv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED) {
		if counts[d.GetTarget()] == nil {
			counts[d.GetTarget()] = map[mxv1.DeliveryStatus]int{}
			if !slices.Contains(names, d.GetTarget()) {
				names = append(names, d.GetTarget())
			}
		}
		counts[d.GetTarget()][d.GetStatus()]++
	}
	for _, n := range names {
		ts := byName[n]
		ch <- prometheus.MustNewConstMetric(c.failedAttempts, prometheus.CounterValue, float64(ts.GetFailedAttempts()), n)
		ch <- prometheus.MustNewConstMetric(c.failedDeliveries, prometheus.CounterValue, float64(ts.GetFailedDeliveries()), n)
		for _, s := range statuses {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.GaugeValue, float64(counts[n][s]), n,
				strings.ToLower(strings.TrimPrefix(s.String(), "DELIVERY_STATUS_")))
		}
	}
}

func severity(s mxv1.Severity) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEVERITY_"))
}

func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func clipLabel(s string) string {
	if len(s) <= MaxLabelLength {
		return s
	}
	// Cut on a rune boundary.
	cut := MaxLabelLength
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut]
}

// CommonName is the CN of a distinguished name as agents report it
// ("CN=mail.contoso.com, O=Contoso" or "O=Contoso,CN=..."), else the name
// itself when it has no CN.
func CommonName(dn string) string {
	for _, part := range splitDN(dn) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CN") {
			return strings.TrimSpace(v)
		}
	}
	return strings.TrimSpace(dn)
}

// splitDN splits on commas that are not escaped or quoted.
func splitDN(dn string) []string {
	var out []string
	var b strings.Builder
	quoted, esc := false, false
	for _, r := range dn {
		switch {
		case esc:
			esc = false
			b.WriteRune(r)
		case r == '\\':
			esc = true
		case r == '"':
			quoted = !quoted
		case (r == ',' || r == ';') && !quoted:
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteRune(r)
		}
	}
	return append(out, b.String())
}
