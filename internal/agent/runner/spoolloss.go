package runner

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/spool"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/text"
)

// spoolLoss is the AGENT_SPOOL_LOSS finding for the spool's cumulative
// loss, while the controller has not acknowledged a batch reporting the
// current total (so a lost report is repeated in the next batch); nil when
// there is nothing to report. The counters are cumulative: the finding
// says what was lost in all, since when, and how much of it is new.
func (r *Runner) spoolLoss(l spool.Loss) *mxv1.CheckResult {
	total := l.Batches()
	if total == 0 || total <= l.Reported {
		return nil
	}
	e, _ := finding.Default().Lookup(finding.AgentSpoolLoss)
	host, id := r.cfg.Hello.GetHostname(), r.cfg.Hello.GetAgentId()
	results := fmt.Sprintf("%d check results", l.Results)
	if l.Corrupt > 0 {
		results += fmt.Sprintf(" (plus those of %d damaged records, unknown)", l.Corrupt)
	}
	var causes []string
	var fix []string
	if l.DroppedFull > 0 {
		causes = append(causes, fmt.Sprintf("%d dropped because the spool was full", l.DroppedFull))
		fix = append(fix, fmt.Sprintf("restore the path from %s to the controllers or raise spool_max_bytes in the agent configuration on %s", host, host))
	}
	if l.WriteFailed > 0 {
		causes = append(causes, fmt.Sprintf("%d never stored (the spool could not write them: disk full or I/O error, see the agent log)", l.WriteFailed))
		fix = append(fix, fmt.Sprintf("free space on the disk holding state_dir on %s and check its health", host))
	}
	if l.Corrupt > 0 {
		causes = append(causes, fmt.Sprintf("%d damaged on disk and not committed by the controller", l.Corrupt))
		fix = append(fix, fmt.Sprintf("check the disk holding state_dir on %s (damaged spool records after a crash or disk fault)", host))
	}
	summary := fmt.Sprintf("Agent %s lost %d result batches with %s since %s: %s; %d of them not reported before",
		id, total, results, l.Since.UTC().Format(time.RFC3339), text.List(causes), total-l.Reported)
	remediation := "To stop further loss: " + text.List(fix) + "."
	return &mxv1.CheckResult{
		Check: "agent_spool", Target: "spool", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		StartedAt: timestamppb.Now(), Duration: durationpb.New(time.Duration(0)),
		Findings: []*mxv1.Finding{{
			Code: string(finding.AgentSpoolLoss), Severity: e.Severity, Subject: id,
			SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_HOST,
			Summary:     summary,
			Evidence: map[string]string{
				"lost_batches_total": fmt.Sprint(total), "lost_results_total": fmt.Sprint(l.Results),
				"dropped_full": fmt.Sprint(l.DroppedFull), "write_failed": fmt.Sprint(l.WriteFailed), "corrupt": fmt.Sprint(l.Corrupt),
				"new_since_last_report": fmt.Sprint(total - l.Reported),
				"lost_since":            l.Since.UTC().Format(time.RFC3339), "last_loss": l.Last.UTC().Format(time.RFC3339),
			},
			Remediation: remediation,
		}},
	}
}
