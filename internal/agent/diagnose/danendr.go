package diagnose

import (
	"fmt"
	"strings"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/queue"
	"github.com/mxprobe/mxprobe/internal/dane"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// QueueDANE finds Exchange Online's DANE results (4/5.7.321-325,
// dane.FindNDRs) in queues' LastError: DANE_NDR per queue, naming the
// destination the text names. It claims only what Exchange Online wrote: the
// destination failed DANE validation as that result type says.
func QueueDANE(snap *queue.Snapshot, o Options) []*mxv1.Finding {
	o = o.WithDefaults()
	if snap == nil {
		return nil
	}
	var out []*mxv1.Finding
	for i := range snap.Queues {
		q := &snap.Queues[i]
		ndrs := dane.FindNDRs(q.LastError)
		if len(ndrs) == 0 {
			continue
		}
		le := q.ParsedError()
		dest := q.NextHopDomain
		if dest == "" {
			dest = le.FQDN
		}
		subject := q.Identity
		if subject == "" {
			subject = dest
		}
		var codes, results []string
		for _, n := range ndrs {
			codes = append(codes, n.Code)
			results = append(results, n.Result)
		}
		ev := map[string]string{"ndr_codes": strings.Join(codes, ","), "dane_results": strings.Join(results, ","), "next_hop": dest,
			"lasterror_fqdn": le.FQDN, "lasterror_ip": le.IP, "last_error": text.Clip(q.LastError, 600), "message_count": fmt.Sprint(q.MessageCount), "origin": "queue"}
		f := finding.New(finding.DANENDR, mxv1.SubjectKind_SUBJECT_KIND_QUEUE, subject,
			fmt.Sprintf("Queue %s on %s: Exchange Online reports %s %s for %s (%d messages)", subject, o.Host, ndrs[0].Code, ndrs[0].Result, text.OrDash(dest), q.MessageCount),
			ev, fmt.Sprintf("Exchange Online could not deliver to %s after DANE validation (%s): fix %s's TLSA records, DNSSEC or certificate as the result names (ask its administrator when it is not yours), then Retry-Queue -Identity '%s'.",
				text.OrDash(dest), ndrs[0].Result, text.OrDash(dest), subject))
		if !ndrs[0].Permanent && q.MessageCount == 0 {
			f.Severity = mxv1.Severity_SEVERITY_WARNING
		}
		out = append(out, f)
	}
	finding.Sort(out)
	return out
}
