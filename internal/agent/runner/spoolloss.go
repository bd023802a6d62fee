package runner

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// spoolLoss reports, once, batches the spool dropped because it was full
// and corrupt records it skipped, as an AGENT_SPOOL_LOSS finding in the
// next batch. Nil when nothing new was lost.
func (r *Runner) spoolLoss() *mxv1.CheckResult {
	st := r.outbox.Stats()
	dropped, corrupt := st.Dropped-r.reportedDropped, st.Corrupt-r.reportedCorrupt
	if dropped == 0 && corrupt == 0 {
		return nil
	}
	r.reportedDropped, r.reportedCorrupt = st.Dropped, st.Corrupt
	e, _ := finding.Default().Lookup(finding.AgentSpoolLoss)
	host := r.cfg.Hello.GetHostname()
	return &mxv1.CheckResult{
		Check: "agent_spool", Target: "spool", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		StartedAt: timestamppb.Now(), Duration: durationpb.New(time.Duration(0)),
		Findings: []*mxv1.Finding{{
			Code: string(finding.AgentSpoolLoss), Severity: e.Severity, Subject: r.cfg.Hello.GetAgentId(),
			SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_HOST,
			Summary:     fmt.Sprintf("Agent %s lost %d result batches (spool full) and skipped %d corrupt spool records while the controller was unreachable", r.cfg.Hello.GetAgentId(), dropped, corrupt),
			Evidence: map[string]string{"dropped_batches": fmt.Sprint(dropped), "corrupt_records": fmt.Sprint(corrupt),
				"spool_bytes": fmt.Sprint(st.Bytes), "spool_batches": fmt.Sprint(st.Batches)},
			Remediation: fmt.Sprintf("Restore the path from %s to the controllers, or raise spool_max_bytes in the agent configuration on %s.", host, host),
		}},
	}
}
