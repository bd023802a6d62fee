package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// ProtocolLogSessions diagnoses parsed sessions at once (agent check): they
// are fed through a LogWindow without age limit.
func ProtocolLogSessions(sessions []protolog.Session, expect ExpectedSent, o Options) []*mxv1.Finding {
	w := NewLogWindow(0, 0)
	for _, s := range sessions {
		w.Add(s)
	}
	return ProtocolLog(w, expect, o)
}

// logAgg aggregates groups of one kind across remote hosts.
type logAgg struct {
	LogGroup
	remotes []string
	names   []string
	samples []string
}

func aggregate(groups []LogGroup, key func(LogGroup) string) []*logAgg {
	idx := map[string]*logAgg{}
	var out []*logAgg
	for _, g := range groups {
		k := key(g)
		a := idx[k]
		if a == nil {
			a = &logAgg{LogGroup: g}
			a.Count, a.FirstSeen, a.LastSeen = 0, g.FirstSeen, g.LastSeen
			idx[k] = a
			out = append(out, a)
		}
		a.Count += g.Count
		if !g.FirstSeen.IsZero() && (a.FirstSeen.IsZero() || g.FirstSeen.Before(a.FirstSeen)) {
			a.FirstSeen = g.FirstSeen
		}
		a.LastSeen = later(a.LastSeen, g.LastSeen)
		if g.RemoteHost != "" && !slices.Contains(a.remotes, g.RemoteHost) {
			a.remotes = append(a.remotes, g.RemoteHost)
		}
		for _, n := range g.RemoteNames {
			if !slices.Contains(a.names, n) {
				a.names = append(a.names, n)
			}
		}
		for _, s := range g.Sessions {
			if len(a.samples) < maxGroupSamples {
				a.samples = append(a.samples, s)
			}
		}
	}
	for _, a := range out {
		slices.Sort(a.remotes)
		slices.Sort(a.names)
	}
	return out
}

func (a *logAgg) evidence() map[string]string {
	ev := map[string]string{
		evDirection:    a.Direction,
		evConnector:    a.Connector,
		"count":        fmt.Sprint(a.Count),
		"first_seen":   fmtTime(a.FirstSeen),
		"last_seen":    fmtTime(a.LastSeen),
		evRemoteHosts:  clip(strings.Join(a.remotes, ","), 500),
		evRemoteNames:  clip(strings.Join(a.names, ","), 500),
		"sessions":     strings.Join(a.samples, ","),
		"origin":       "protocol-log",
		"remote_count": fmt.Sprint(len(a.remotes)),
	}
	if a.Thumbprint != "" {
		ev[evThumbprintSent] = a.Thumbprint
		ev["certificate_subject"] = a.CertSubject
	}
	if a.Detail != "" {
		ev["detail"] = a.Detail
	}
	return ev
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func logSubject(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ":")
}

func remotesText(a *logAgg) string {
	r := a.names
	if len(r) == 0 {
		r = a.remotes
	}
	if len(r) > 3 {
		return strings.Join(r[:3], ", ") + fmt.Sprintf(" and %d more", len(r)-3)
	}
	return orDash(strings.Join(r, ", "))
}

// ProtocolLog turns a window into findings. expect (may be nil) gives each
// connector's intended certificate for LOG_UNEXPECTED_CERT_SENT.
func ProtocolLog(w *LogWindow, expect ExpectedSent, o Options) []*mxv1.Finding {
	o = o.withDefaults()
	groups := w.Groups()
	byKind := map[string][]LogGroup{}
	for _, g := range groups {
		byKind[g.Kind] = append(byKind[g.Kind], g)
	}
	var out []*mxv1.Finding
	for _, a := range aggregate(byKind[LogKindTLSFailed], func(g LogGroup) string {
		return g.Direction + "\x00" + g.Connector + "\x00" + g.Status + "\x00" + g.Thumbprint
	}) {
		ev := a.evidence()
		ev[evStatus] = a.Status
		sent := ""
		if a.Thumbprint != "" {
			sent = fmt.Sprintf(" sending certificate %s", a.Thumbprint)
		}
		out = append(out, newFinding(finding.LogTLSNegotiationFailed, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR,
			logSubject(a.Direction, a.Connector, a.Status, a.Thumbprint),
			fmt.Sprintf("%s connector %q on %s: TLS negotiation failed with error %s %d times (%s to %s)%s with %s",
				a.Direction, a.Connector, o.Host, a.Status, a.Count, fmtTime(a.FirstSeen), fmtTime(a.LastSeen), sent, remotesText(a)),
			ev, tlsFailureFix(a, o.Host)))
	}
	for _, a := range aggregate(byKind[LogKindCertNotFound], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		out = append(out, newFinding(finding.LogTLSCertNotFound, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector),
			fmt.Sprintf("%s connector %q on %s: 454 4.7.5 certificate specified in TlsCertificateName not found, %d times (last %s)", a.Direction, a.Connector, o.Host, a.Count, fmtTime(a.LastSeen)),
			ev, fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; Set-SendConnector -Identity %q -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" with a certificate that exists and has its private key; Restart-Service MSExchangeTransport.`, o.Host, a.Connector)))
	}
	for _, a := range aggregate(byKind[LogKindStartTLSRequired], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		out = append(out, newFinding(finding.LogStartTLSRequired, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector),
			fmt.Sprintf("%s connector %q on %s: 451 5.7.3 STARTTLS required but not negotiated, %d times with %s", a.Direction, a.Connector, o.Host, a.Count, remotesText(a)),
			ev, fmt.Sprintf("Fix what prevents STARTTLS on connector %q of %s (see the linked findings): a certificate without usable key, TLS 1.2 disabled (SCHANNEL TLS 1.2 Client+Server Enabled=1 DisabledByDefault=0), or an untrusted chain.", a.Connector, o.Host)))
	}
	for _, a := range aggregate(byKind[LogKindNoStartTLS], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		ev["capabilities"] = a.Detail
		var summary, fix string
		if a.Direction == protolog.DirectionReceive.String() {
			summary = fmt.Sprintf("Receive connector %q on %s did not offer STARTTLS to %s (%d sessions)", a.Connector, o.Host, remotesText(a), a.Count)
			fix = fmt.Sprintf(`On %s: check event 12014, install a certificate whose SAN contains the connector's FQDN and run Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP; make sure AuthMechanism of %q includes Tls (Set-ReceiveConnector -Identity %q -AuthMechanism @{Add='Tls'}).`, o.Host, a.Connector, a.Connector)
		} else {
			summary = fmt.Sprintf("Send connector %q on %s: %s did not offer STARTTLS (%d sessions; EHLO: %s)", a.Connector, o.Host, remotesText(a), a.Count, clip(a.Detail, 120))
			fix = fmt.Sprintf("On the receiving side (%s): enable a certificate for SMTP (event 12014) and Tls in AuthMechanism; disable ESMTP inspection on firewalls between %s and it.", remotesText(a), o.Host)
		}
		out = append(out, newFinding(finding.LogStartTLSNotOffered, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector), summary, ev, fix))
	}
	out = append(out, unexpectedSent(w.Sent(), expect, o)...)
	out = dedupe(out)
	sortFindings(out)
	return out
}

func tlsFailureFix(a *logAgg, host string) string {
	switch strings.ToLower(a.Status) {
	case "nocredentials":
		if a.Thumbprint != "" {
			return fmt.Sprintf(`Certificate %s that %q sends has no usable private key (KB4495258). On %s: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -eq '%s' | Remove-Item (if a certificate with the same issuer and subject and a key exists), else re-import it with its key from the PFX; Restart-Service MSExchangeTransport ; Retry-Queue.`, a.Thumbprint, a.Connector, host, a.Thumbprint)
		}
		return fmt.Sprintf("The certificate connector %q selects on %s has no private key (KB4495258): find it with Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { -not $_.HasPrivateKey }, remove it, Restart-Service MSExchangeTransport.", a.Connector, host)
	case "unknowncredentials":
		return fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (transport cannot use the key, KB4051498), Restart-Service MSExchangeTransport.", host, orDash(a.Thumbprint))
	case "socketerror":
		return fmt.Sprintf("TLS version mismatch: on %s enable TLS 1.2 (SCHANNEL Protocols\\TLS 1.2\\Client and \\Server Enabled=1 DisabledByDefault=0; .NET Framework SystemDefaultTlsVersions=1 SchUseStrongCrypto=1), reboot.", host)
	}
	return fmt.Sprintf("Check the certificate %s connector %q presents on %s (private key, chain) and SCHANNEL protocol settings; see the linked findings.", orDash(a.Thumbprint), a.Connector, host)
}

// unexpectedSent compares the certificates transport sent with what each
// connector is meant to present. A usage is stale (ignored) when the
// intended certificate was sent on that connector more recently.
func unexpectedSent(usages []SentUsage, expect ExpectedSent, o Options) []*mxv1.Finding {
	if len(expect) == 0 {
		return nil
	}
	lastIntended := map[string]time.Time{}
	for _, u := range usages {
		if x, ok := expect.lookup(u.Connector); ok && x.Thumbprint == u.Thumbprint {
			k := u.Direction + "\x00" + u.Connector
			lastIntended[k] = later(lastIntended[k], u.LastSeen)
		}
	}
	var out []*mxv1.Finding
	for _, u := range usages {
		x, ok := expect.lookup(u.Connector)
		if !ok || x.Thumbprint == u.Thumbprint {
			continue
		}
		if t, seen := lastIntended[u.Direction+"\x00"+u.Connector]; seen && !t.Before(u.LastSeen) {
			continue
		}
		ev := map[string]string{
			evDirection: u.Direction, evConnector: u.Connector, evThumbprintSent: u.Thumbprint, evExpected: x.Thumbprint,
			evSelected: x.Selected, evCandidates: strings.Join(x.Candidates, ","), "certificate_subject": u.Subject,
			"count": fmt.Sprint(u.Count), "failed": fmt.Sprint(u.Failed), "succeeded": fmt.Sprint(u.Succeeded),
			"first_seen": fmtTime(u.FirstSeen), "last_seen": fmtTime(u.LastSeen), "sessions": u.Session, "origin": "protocol-log",
		}
		fix := fmt.Sprintf(`On %s remove the certificate transport picks by mistake: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -eq '%s' | Remove-Item ; Restart-Service MSExchangeTransport (it caches the choice until restart), so that %q presents %s.`, o.Host, u.Thumbprint, u.Connector, x.Thumbprint)
		if !slices.Contains(x.Candidates, u.Thumbprint) {
			fix = fmt.Sprintf("Certificate %s is not what connector %q designates (%s); transport caches its choice until restart: Restart-Service MSExchangeTransport on %s, then check the log again.", u.Thumbprint, u.Connector, x.Thumbprint, o.Host)
		}
		out = append(out, newFinding(finding.LogUnexpectedCertSent, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(u.Direction, u.Connector, u.Thumbprint),
			fmt.Sprintf("%s connector %q on %s sent certificate %s in %d sessions (%d failed); it should present %s", u.Direction, u.Connector, o.Host, u.Thumbprint, u.Count, u.Failed, x.Thumbprint),
			ev, fix))
	}
	slices.SortFunc(out, func(a, b *mxv1.Finding) int { return cmp.Compare(a.Subject, b.Subject) })
	return out
}
