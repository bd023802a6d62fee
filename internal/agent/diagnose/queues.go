package diagnose

import (
	"fmt"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// Queues diagnoses Get-Queue output: a queue holding messages (or in Retry)
// whose LastError matches a failure-catalog signature is QUEUE_TLS_FAILURE.
// Messages held back are an error whatever the cause; a queue in Retry with
// no message is a warning. The text claims TLS only when the LastError is
// TLS-specific (454 4.7.5, 451 5.7.3, 4.7.320, ...); for the connection-level
// symptom a TLS failure produces but a network fault could too (451 4.4.395
// -> 421 4.4.1 timed out, 421 4.2.1) it says both and what tells them apart.
// The root-cause linker ties it to the TLS cause when the protocol log or
// the connector simulation shows one.
// quoted wraps each signature summary in quotes so several read as a list.
func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", strings.TrimSuffix(s, "."))
	}
	return out
}

func Queues(snap *queue.Snapshot, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	if snap == nil {
		return nil
	}
	host := o.Host
	if snap.Server != "" {
		host = snap.Server
	}
	var out []*mxv1.Finding
	for i := range snap.Queues {
		q := &snap.Queues[i]
		if strings.TrimSpace(q.LastError) == "" || q.MessageCount == 0 && !q.Status.IsRetry() {
			continue
		}
		le := q.ParsedError()
		c := queue.Classify(le)
		if len(c.Matches) == 0 {
			continue
		}
		var sigs, catalogs, summaries, replies []string
		for _, m := range c.Matches {
			sigs = append(sigs, m.Signature.ID)
			summaries = append(summaries, m.Signature.Summary)
			for _, l := range m.Signature.Catalog {
				if !slices.Contains(catalogs, l) {
					catalogs = append(catalogs, l)
				}
			}
		}
		for _, r := range le.Replies() {
			replies = append(replies, strings.TrimSpace(fmt.Sprintf("%d %s", r.Code, r.Enhanced)))
		}
		slices.Sort(catalogs)
		subject := q.Identity
		if subject == "" {
			subject = q.NextHopDomain
		}
		nextHop := q.NextHopDomain
		if nextHop == "" {
			nextHop = le.FQDN
		}
		ev := map[string]string{
			finding.EvNextHop: nextHop, "lasterror_fqdn": le.FQDN, "lasterror_ip": le.IP, "last_error": text.Clip(q.LastError, 600),
			"message_count": fmt.Sprint(q.MessageCount), "status": string(q.Status), finding.EvSignatures: strings.Join(sigs, ","),
			"catalog": strings.Join(catalogs, ","), finding.EvReplies: strings.Join(replies, ","), "tls_specific": fmt.Sprint(c.TLS),
			"origin": "queue",
		}
		if q.NextHopConnector != "" {
			ev["next_hop_connector"] = q.NextHopConnector
		}
		if q.TlsPolicy != "" {
			ev["tls_policy"] = q.TlsPolicy
		}
		if le.LRT != "" {
			ev["last_retry"] = le.LRT
		}
		if rc := le.RootCause(); rc != nil {
			ev["root_error"] = text.Clip(rc.Text, 300)
		}
		summary := fmt.Sprintf("Queue %s on %s to %s holds %s (%s); LastError: %s", subject, host, text.OrDash(nextHop),
			text.Count(int(q.MessageCount), "message"), q.Status, text.Clip(le.LED, 200))
		var fix string
		if c.TLS {
			summary += "; the reply names a TLS failure"
			fix = fmt.Sprintf("LastError matches %s. Fix the cause linked to this finding on %s, then Retry-Queue -Identity '%s'.",
				text.List(quoted(summaries)), host, subject)
		} else {
			summary += "; a connection-level error, which a TLS failure on this server (certificate without usable key) and a network fault both produce"
			fix = fmt.Sprintf("LastError matches %s. If a cause is linked to this finding, fix it on %s; otherwise check the send protocol log of the connector serving %s for \"TLS negotiation failed\" (a local certificate problem) and, when the log shows no TLS attempt, the network path to %s. Then Retry-Queue -Identity '%s'.",
				text.List(quoted(summaries)), host, text.OrDash(nextHop), text.OrDash(nextHop), subject)
		}
		f := finding.New(finding.QueueTLSFailure, mxv1.SubjectKind_SUBJECT_KIND_QUEUE, subject, summary, ev, fix)
		if q.MessageCount == 0 {
			f.Severity = mxv1.Severity_SEVERITY_WARNING
		}
		out = append(out, f)
	}
	out = finding.Dedupe(out)
	finding.Sort(out)
	return out
}
