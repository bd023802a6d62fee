package diagnose

import (
	"fmt"
	"slices"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// Queues diagnoses Get-Queue output: a queue holding messages (or in Retry)
// whose LastError matches a failure-catalog signature is QUEUE_TLS_FAILURE,
// at ERROR when the signature is TLS-specific and at WARNING when it is only
// the connection-level symptom (451 4.4.395 -> 421 4.4.1 timed out) that a
// TLS failure produces but a network fault could too; the root-cause linker
// ties it to the TLS cause when the protocol log shows one.
func Queues(snap *queue.Snapshot, o Options) []*mxv1.Finding {
	o = o.withDefaults()
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
			evNextHop: nextHop, "lasterror_fqdn": le.FQDN, "lasterror_ip": le.IP, "last_error": clip(q.LastError, 600),
			"message_count": fmt.Sprint(q.MessageCount), "status": string(q.Status), evSignatures: strings.Join(sigs, ","),
			"catalog": strings.Join(catalogs, ","), evReplies: strings.Join(replies, ","), "tls_specific": fmt.Sprint(c.TLS),
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
			ev["root_error"] = clip(rc.Text, 300)
		}
		f := newFinding(finding.QueueTLSFailure, mxv1.SubjectKind_SUBJECT_KIND_QUEUE, subject,
			fmt.Sprintf("Queue %s on %s to %s holds %d messages (%s): %s", subject, host, orDash(nextHop), q.MessageCount, q.Status, clip(le.LED, 200)),
			ev, fmt.Sprintf("%s Fix the linked cause on %s, then Retry-Queue -Identity '%s'.", strings.Join(summaries, " "), host, subject))
		if !c.TLS {
			f.Severity = mxv1.Severity_SEVERITY_WARNING
		}
		out = append(out, f)
	}
	out = dedupe(out)
	sortFindings(out)
	return out
}
