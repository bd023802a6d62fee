package store

import (
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
)

// Reports are replicated state: a duplicate report-id is ignored, the
// derived results of the virtual agent appear with the agents' results, and
// a snapshot round trip keeps both.
func TestTLSReportsApplyDedupeAndSnapshot(t *testing.T) {
	b, err := os.ReadFile("../../tlsrpt/testdata/parsedmarc/smtp_tls.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tlsrpt.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	f := &fsm{state: newState(), log: quietLog()}
	at := timestamppb.New(r.GetEnd().AsTime().Add(6 * time.Hour))
	cmd := func() *mxv1.Command {
		return &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_IngestTlsReports{IngestTlsReports: &mxv1.IngestTLSReports{Reports: []*mxv1.TLSReport{r, r}}}}
	}
	res := applyCmd(t, f, 1, cmd()).(TLSReportsResult)
	if len(res.Duplicate) != 2 || res.Duplicate[0] || !res.Duplicate[1] {
		t.Fatalf("duplicates: %v", res.Duplicate)
	}
	if res := applyCmd(t, f, 2, cmd()).(TLSReportsResult); !res.Duplicate[0] {
		t.Fatalf("replayed report applied again: %v", res.Duplicate)
	}
	if got := f.state.TLSReports(); len(got) != 1 || !proto.Equal(got[0].GetReceivedAt(), at) {
		t.Fatalf("stored: %v", got)
	}
	fs := f.state.Findings(FindingFilter{AgentID: tlsrpt.AgentID})
	if len(fs) != 1 || fs[0].GetFinding().GetCode() != "TLSRPT_FAILURES" || fs[0].GetFinding().GetSubject() != "example.com:25" {
		t.Fatalf("findings: %v", fs)
	}
	if v := f.state.CorrelationView(); len(v.Results) != 2 {
		t.Fatalf("correlation sees %d results, want the MX's and the domain's", len(v.Results))
	}
	g := &fsm{state: newState(), log: quietLog()}
	g.state.restore(f.state.snapshot())
	if !proto.Equal(g.state.snapshot(), f.state.snapshot()) || !g.state.HasTLSReport(r.GetReportId()) {
		t.Fatal("snapshot round trip lost reports")
	}
}
