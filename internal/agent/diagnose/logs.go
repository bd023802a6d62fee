package diagnose

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/protolog"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/exchange"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// ProtocolLogSessions diagnoses parsed sessions at once (agent check): they
// are fed through a LogWindow without age limit.
func ProtocolLogSessions(sessions []protolog.Session, expect certdiag.ExpectedSent, o Options) []*mxv1.Finding {
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
	// have: remotes and names already listed (a window holds up to
	// DefaultLogWindowGroups groups; a linear search per group is quadratic)
	have map[string]struct{}
}

func aggregate(groups []LogGroup, key func(LogGroup) string) []*logAgg {
	idx := map[string]*logAgg{}
	var out []*logAgg
	for _, g := range groups {
		k := key(g)
		a := idx[k]
		if a == nil {
			a = &logAgg{LogGroup: g, have: map[string]struct{}{}}
			a.Count, a.FirstSeen, a.LastSeen = 0, g.FirstSeen, g.LastSeen
			idx[k] = a
			out = append(out, a)
		}
		a.Count += g.Count
		if !g.FirstSeen.IsZero() && (a.FirstSeen.IsZero() || g.FirstSeen.Before(a.FirstSeen)) {
			a.FirstSeen = g.FirstSeen
		}
		a.LastSeen = later(a.LastSeen, g.LastSeen)
		if _, dup := a.have["r\x00"+g.RemoteHost]; g.RemoteHost != "" && !dup {
			a.have["r\x00"+g.RemoteHost] = struct{}{}
			a.remotes = append(a.remotes, g.RemoteHost)
		}
		for _, n := range g.RemoteNames {
			if _, dup := a.have["n\x00"+n]; !dup {
				a.have["n\x00"+n] = struct{}{}
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
		finding.EvDirection:   a.Direction,
		finding.EvConnector:   a.Connector,
		"count":               fmt.Sprint(a.Count),
		"first_seen":          fmtTime(a.FirstSeen),
		"last_seen":           fmtTime(a.LastSeen),
		finding.EvRemoteHosts: text.Clip(strings.Join(a.remotes, ","), 500),
		finding.EvRemoteNames: text.Clip(strings.Join(a.names, ","), 500),
		"sessions":            strings.Join(a.samples, ","),
		"origin":              "protocol-log",
		"remote_count":        fmt.Sprint(len(a.remotes)),
	}
	if a.Thumbprint != "" {
		ev[finding.EvThumbprintSent] = a.Thumbprint
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
	return text.OrDash(strings.Join(r, ", "))
}

// ProtocolLog turns a window into findings. expect (may be nil) gives each
// connector's intended certificate for LOG_UNEXPECTED_CERT_SENT.
func ProtocolLog(w *LogWindow, expect certdiag.ExpectedSent, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
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
		ev[finding.EvStatus] = a.Status
		sent := ""
		if a.Thumbprint != "" {
			sent = fmt.Sprintf(" sending certificate %s", a.Thumbprint)
		}
		out = append(out, finding.New(finding.LogTLSNegotiationFailed, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR,
			logSubject(a.Direction, a.Connector, a.Status, a.Thumbprint),
			fmt.Sprintf("%s connector %q on %s: TLS negotiation failed with error %s %d times (%s to %s)%s with %s",
				a.Direction, a.Connector, o.Host, a.Status, a.Count, fmtTime(a.FirstSeen), fmtTime(a.LastSeen), sent, remotesText(a)),
			ev, tlsFailureFix(a, o.Host)))
	}
	for _, a := range aggregate(byKind[LogKindCertNotFound], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		out = append(out, finding.New(finding.LogTLSCertNotFound, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector),
			fmt.Sprintf("%s connector %q on %s: 454 4.7.5 certificate specified in TlsCertificateName not found, %d times (last %s)", a.Direction, a.Connector, o.Host, a.Count, fmtTime(a.LastSeen)),
			ev, fmt.Sprintf(`On %s: $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; Set-SendConnector -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" with a certificate that exists and has its private key; Restart-Service MSExchangeTransport.`, o.Host, text.PSLiteral(a.Connector))))
	}
	for _, a := range aggregate(byKind[LogKindStartTLSRequired], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		out = append(out, finding.New(finding.LogStartTLSRequired, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector),
			fmt.Sprintf("%s connector %q on %s: 451 5.7.3 STARTTLS required but not negotiated, %d times with %s", a.Direction, a.Connector, o.Host, a.Count, remotesText(a)),
			ev, fmt.Sprintf("Fix what prevents STARTTLS on connector %q of %s (see the linked findings): a certificate without usable key, TLS 1.2 disabled (SCHANNEL TLS 1.2 Client+Server Enabled=1 DisabledByDefault=0), or an untrusted chain.", a.Connector, o.Host)))
	}
	for _, a := range aggregate(byKind[LogKindNoStartTLS], func(g LogGroup) string { return g.Direction + "\x00" + g.Connector }) {
		ev := a.evidence()
		ev["capabilities"] = a.Detail
		var summary, fix string
		if a.Direction == protolog.DirectionReceive.String() {
			summary = fmt.Sprintf("Receive connector %q on %s did not offer STARTTLS to %s (%d sessions)", a.Connector, o.Host, remotesText(a), a.Count)
			fix = fmt.Sprintf(`On %s: check event 12014, install a certificate whose SAN contains the connector's FQDN and run Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP; make sure AuthMechanism of %q includes Tls (Set-ReceiveConnector -Identity %s -AuthMechanism @{Add='Tls'}).`, o.Host, a.Connector, text.PSLiteral(a.Connector))
		} else {
			summary = fmt.Sprintf("Send connector %q on %s: %s did not offer STARTTLS (%d sessions; EHLO: %s)", a.Connector, o.Host, remotesText(a), a.Count, text.Clip(a.Detail, 120))
			fix = fmt.Sprintf("On the receiving side (%s): enable a certificate for SMTP (event 12014) and Tls in AuthMechanism; disable ESMTP inspection on firewalls between %s and it.", remotesText(a), o.Host)
		}
		out = append(out, finding.New(finding.LogStartTLSNotOffered, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector), summary, ev, fix))
	}
	out = append(out, logDANE(byKind[LogKindDANENDR], o)...)
	out = append(out, unexpectedSent(w.Sent(), expect, o)...)
	out = append(out, sentAgainstSimulation(w.Sent(), expect, o)...)
	out = append(out, selfSignedToExchangeOnline(w.Sent(), o)...)
	out = finding.Dedupe(out)
	finding.Sort(out)
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
		return fmt.Sprintf("On %s: Enable-ExchangeCertificate -Thumbprint %s -Services SMTP (transport cannot use the key, KB4051498), Restart-Service MSExchangeTransport.", host, text.OrDash(a.Thumbprint))
	case "socketerror":
		return fmt.Sprintf("TLS version mismatch: on %s enable TLS 1.2 (SCHANNEL Protocols\\TLS 1.2\\Client and \\Server Enabled=1 DisabledByDefault=0; .NET Framework SystemDefaultTlsVersions=1 SchUseStrongCrypto=1), reboot.", host)
	}
	return fmt.Sprintf("Check the certificate %s connector %q presents on %s (private key, chain) and SCHANNEL protocol settings; see the linked findings.", text.OrDash(a.Thumbprint), a.Connector, host)
}

// sentEvidence is what a finding on a sent certificate carries: the logged
// usage and what the selection simulation expected on its connector.
func sentEvidence(u SentUsage, x certdiag.Expectation) map[string]string {
	return map[string]string{
		finding.EvDirection: u.Direction, finding.EvConnector: u.Connector, finding.EvThumbprintSent: u.Thumbprint, finding.EvExpected: x.Thumbprint,
		finding.EvSelected: x.Selected, finding.EvCandidates: strings.Join(x.Candidates, ","), "certificate_subject": u.Subject,
		"count": fmt.Sprint(u.Count), "failed": fmt.Sprint(u.Failed), "succeeded": fmt.Sprint(u.Succeeded),
		"first_seen": fmtTime(u.FirstSeen), "last_seen": fmtTime(u.LastSeen), "sessions": u.Session, "origin": "protocol-log",
	}
}

// unexpectedSent compares the certificates transport sent with what each
// connector is meant to present. A usage is stale (ignored) when the
// intended certificate was sent on that connector more recently.
func unexpectedSent(usages []SentUsage, expect certdiag.ExpectedSent, o Options) []*mxv1.Finding {
	if len(expect) == 0 {
		return nil
	}
	lastIntended := map[string]time.Time{}
	for _, u := range usages {
		if x, ok := expect.Lookup(u.Connector); ok && x.Thumbprint == u.Thumbprint {
			k := u.Direction + "\x00" + u.Connector
			lastIntended[k] = later(lastIntended[k], u.LastSeen)
		}
	}
	var out []*mxv1.Finding
	for _, u := range usages {
		x, ok := expect.Lookup(u.Connector)
		if !ok || x.Thumbprint == u.Thumbprint {
			continue
		}
		if t, seen := lastIntended[u.Direction+"\x00"+u.Connector]; seen && !t.Before(u.LastSeen) {
			continue
		}
		ev := sentEvidence(u, x)
		fix := fmt.Sprintf(`On %s remove the certificate transport picks by mistake: Get-ChildItem Cert:\LocalMachine\My | Where-Object Thumbprint -eq '%s' | Remove-Item ; Restart-Service MSExchangeTransport (it caches the choice until restart), so that %q presents %s.`, o.Host, u.Thumbprint, u.Connector, x.Thumbprint)
		if !slices.Contains(x.Candidates, u.Thumbprint) {
			fix = fmt.Sprintf("Certificate %s is not what connector %q designates (%s); transport caches its choice until restart: Restart-Service MSExchangeTransport on %s, then check the log again.", u.Thumbprint, u.Connector, x.Thumbprint, o.Host)
		}
		out = append(out, finding.New(finding.LogUnexpectedCertSent, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(u.Direction, u.Connector, u.Thumbprint),
			fmt.Sprintf("%s connector %q on %s sent certificate %s in %d sessions (%d failed); it should present %s", u.Direction, u.Connector, o.Host, u.Thumbprint, u.Count, u.Failed, x.Thumbprint),
			ev, fix))
	}
	slices.SortFunc(out, func(a, b *mxv1.Finding) int { return cmp.Compare(a.Subject, b.Subject) })
	return out
}

// LogsUnparseable is LOG_UNPARSEABLE when protocol logs under target were
// read but not one data line was a protocol log row (st counts what was
// read); nil when some row parsed or there were no data lines at all (a
// fresh log holds only its header).
func LogsUnparseable(target string, st protolog.Stats, o Options) *mxv1.Finding {
	bad := st.BadRows + st.LongLines
	if st.Rows > 0 || bad == 0 {
		return nil
	}
	o = o.WithDefaults()
	ev := map[string]string{
		"directories": target, "files": fmt.Sprint(st.Files), "bytes": fmt.Sprint(st.Bytes),
		"header_lines": fmt.Sprint(st.HeaderLines), "bad_rows": fmt.Sprint(st.BadRows), "long_lines": fmt.Sprint(st.LongLines),
		"rows": "0", "origin": "protocol-log",
	}
	return finding.New(finding.LogUnparseable, mxv1.SubjectKind_SUBJECT_KIND_HOST, target,
		fmt.Sprintf("Protocol logs under %s on %s: %s read with %s, none of them an SMTP protocol log row; no session was checked",
			target, o.Host, text.Count(st.Files, "file"), text.Count(int(bad), "data line")),
		ev, fmt.Sprintf("Point --protocol-logs at the SmtpSend/SmtpReceive ProtocolLog directories of %s (%%ExchangeInstallPath%%TransportRoles\\Logs\\{FrontEnd,Hub,Edge}\\ProtocolLog) and copy the files unchanged (Copy-Item; Get-Content | Out-File re-encodes them as UTF-16); check the first lines of a file start with #Software: Microsoft Exchange Server and #Fields: date-time,connector-id,session-id,...", o.Host))
}

// loggedSelfSigned reports whether a logged certificate block shows a
// self-signed certificate: issuer and subject present and the same name.
func loggedSelfSigned(subject, issuer string) bool {
	if strings.TrimSpace(subject) == "" || strings.TrimSpace(issuer) == "" {
		return false
	}
	if eq, err := exchange.EqualDNStrings(subject, issuer); err == nil {
		return eq
	}
	return strings.EqualFold(strings.TrimSpace(subject), strings.TrimSpace(issuer))
}

// selfSignedToExchangeOnline: this server presented a self-signed
// certificate in sessions whose peer is Exchange Online (failure E/H of the
// catalog: Exchange Online refuses it for hybrid mail). The evidence is the
// log alone; the connector finding that explains it is raised by Link.
func selfSignedToExchangeOnline(usages []SentUsage, o Options) []*mxv1.Finding {
	var out []*mxv1.Finding
	for _, u := range usages {
		if u.ExchangeOnline == 0 || !loggedSelfSigned(u.Subject, u.Issuer) {
			continue
		}
		ev := map[string]string{
			finding.EvDirection: u.Direction, finding.EvConnector: u.Connector, finding.EvThumbprintSent: u.Thumbprint,
			"certificate_subject": u.Subject, "certificate_issuer": u.Issuer,
			"self_signed_basis": "issuer equals subject in the logged certificate block",
			"count":             fmt.Sprint(u.Count), "exchange_online_sessions": fmt.Sprint(u.ExchangeOnline),
			"failed": fmt.Sprint(u.Failed), "succeeded": fmt.Sprint(u.Succeeded),
			finding.EvRemoteNames: text.Clip(strings.Join(u.RemoteNames, ","), 500),
			"first_seen":          fmtTime(u.FirstSeen), "last_seen": fmtTime(u.LastSeen), "sessions": u.Session, "origin": "protocol-log",
		}
		set := "Set-ReceiveConnector"
		if u.Direction == protolog.DirectionSend.String() {
			set = "Set-SendConnector"
		}
		out = append(out, finding.New(finding.LogSelfSignedSent, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(u.Direction, u.Connector, u.Thumbprint),
			fmt.Sprintf("%s connector \"%s\" on %s presented self-signed certificate %s (%s) to Exchange Online in %d of %d logged sessions (%s to %s); Exchange Online does not accept a self-signed certificate for hybrid mail (450 4.7.320 SubjectMismatch)",
				u.Direction, u.Connector, o.Host, u.Thumbprint, text.OrDash(u.Subject), u.ExchangeOnline, u.Count, fmtTime(u.FirstSeen), fmtTime(u.LastSeen)),
			ev, fmt.Sprintf(`On %s bind the CA-issued certificate the hybrid configuration uses to connector "%s": $c = Get-ChildItem Cert:\LocalMachine\My\THUMBPRINT ; %s -Identity %s -TlsCertificateName "<I>$($c.Issuer)<S>$($c.Subject)" ; Restart-Service MSExchangeTransport. Keep the self-signed certificate %s: Exchange uses it internally.`,
				o.Host, u.Connector, set, text.PSLiteral(u.Connector), u.Thumbprint)))
	}
	return out
}

// sentAgainstSimulation records, as LOG_CERT_SENT, the certificate a
// connector presented most recently when it is its intended certificate
// but not the one the selection simulation picks (the other disagreement,
// the unintended one sent, is LOG_UNEXPECTED_CERT_SENT): Link lets the
// connector findings follow it.
func sentAgainstSimulation(usages []SentUsage, expect certdiag.ExpectedSent, o Options) []*mxv1.Finding {
	if len(expect) == 0 {
		return nil
	}
	latest := map[string]SentUsage{}
	for _, u := range usages {
		k := u.Direction + "\x00" + strings.ToLower(u.Connector)
		if l, ok := latest[k]; !ok || u.LastSeen.After(l.LastSeen) {
			latest[k] = u
		}
	}
	var out []*mxv1.Finding
	for _, u := range latest {
		x, ok := expect.Lookup(u.Connector)
		if !ok || x.Selected == "" || u.Thumbprint == x.Selected || u.Thumbprint != x.Thumbprint || u.Succeeded == 0 {
			continue
		}
		ev := sentEvidence(u, x)
		out = append(out, finding.New(finding.LogCertSent, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(u.Direction, u.Connector, u.Thumbprint),
			fmt.Sprintf("%s connector \"%s\" on %s presented certificate %s in its latest sessions (%d, %d with TLS negotiated, last %s), not %s which the selection simulation picks",
				u.Direction, u.Connector, o.Host, u.Thumbprint, u.Count, u.Succeeded, fmtTime(u.LastSeen), x.Selected),
			ev, "Nothing on its own: the connector findings about the same connector follow this observation."))
	}
	slices.SortFunc(out, func(a, b *mxv1.Finding) int { return cmp.Compare(a.Subject, b.Subject) })
	return out
}

// logDANE: send-side replies carrying an Exchange Online DANE result
// (4/5.7.321-325, dane.FindNDRs), DANE_NDR per connector and code. It claims
// what the remote wrote: delivery of those messages failed DANE validation
// of their destination as the result names; which destination is in the
// reply text (the recipient's domain), not in the log.
func logDANE(groups []LogGroup, o Options) []*mxv1.Finding {
	var out []*mxv1.Finding
	for _, a := range aggregate(groups, func(g LogGroup) string { return g.Direction + "\x00" + g.Connector + "\x00" + g.Status }) {
		code := a.Status
		result := dane.NDRResults[code[len(code)-1]]
		ev := a.evidence()
		ev["ndr_codes"], ev["dane_results"], ev["reply"] = code, result, a.Detail
		f := finding.New(finding.DANENDR, mxv1.SubjectKind_SUBJECT_KIND_CONNECTOR, logSubject(a.Direction, a.Connector, code),
			fmt.Sprintf("%s connector %q on %s: %s answered %s %s (Exchange Online DANE) %d times (%s to %s)",
				a.Direction, a.Connector, o.Host, remotesText(a), code, result, a.Count, fmtTime(a.FirstSeen), fmtTime(a.LastSeen)),
			ev, fmt.Sprintf("Exchange Online did not deliver these messages after DANE validation of their destination (%s): fix the TLSA records, DNSSEC or certificate of the destination the reply names (%s; ask its administrator when it is not yours); the senders get an NDR or a retry.",
				result, text.Clip(a.Detail, 200)))
		out = append(out, f)
	}
	return out
}
