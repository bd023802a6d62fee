package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// A check's history records changes of status or finding codes only,
// bounded to the last 8, and survives a snapshot; listing pages by key.
func TestResultHistoryAndListing(t *testing.T) {
	f := &fsm{state: newState(), log: quietLog()}
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	seq := uint64(0)
	report := func(min int, st mxv1.CheckStatus, codes ...string) {
		seq++
		r := &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://outlook.office365.com:25", Status: st}
		for _, c := range codes {
			r.Findings = append(r.Findings, &mxv1.Finding{Code: c, Severity: mxv1.Severity_SEVERITY_ERROR, Subject: "x"})
		}
		r.Findings = append(r.Findings, &mxv1.Finding{Code: "INFO_ONLY", Severity: mxv1.Severity_SEVERITY_INFO})
		applyCmd(t, f, seq, &mxv1.Command{ProposedAt: timestamppb.New(t0.Add(time.Duration(min) * time.Minute)), Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{
			Batches: []*mxv1.AgentBatch{{AgentId: "edge02", Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{r}}}}}}})
	}
	ok, fail := mxv1.CheckStatus_CHECK_STATUS_OK, mxv1.CheckStatus_CHECK_STATUS_FAIL
	report(0, ok)
	report(1, ok)
	report(2, fail, "SMTP_TLS_HANDSHAKE_FAILED")
	report(3, fail, "SMTP_TLS_HANDSHAKE_FAILED")
	report(4, fail, "SMTP_TLS_HANDSHAKE_FAILED", "CERT_NO_PRIVATE_KEY")
	recs, next := f.state.Results(ResultFilter{}, ResultKey{}, 10)
	if len(recs) != 1 || next != nil {
		t.Fatalf("results %d, next %v", len(recs), next)
	}
	var got []string
	for _, c := range recs[0].GetHistory() {
		got = append(got, fmt.Sprintf("%d:%s:%v", int(c.GetAt().AsTime().Sub(t0).Minutes()), c.GetStatus(), c.GetCodes()))
	}
	want := []string{"0:CHECK_STATUS_OK:[]", "2:CHECK_STATUS_FAIL:[SMTP_TLS_HANDSHAKE_FAILED]", "4:CHECK_STATUS_FAIL:[CERT_NO_PRIVATE_KEY SMTP_TLS_HANDSHAKE_FAILED]"}
	if !slices.Equal(got, want) || !recs[0].GetSince().AsTime().Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("history %v since %v, want %v", got, recs[0].GetSince().AsTime(), want)
	}
	for i := range 20 {
		report(10+i, []mxv1.CheckStatus{ok, fail}[i%2], []string{"", "X"}[i%2])
	}
	h := f.state.snapshot().GetResults()[0].GetHistory()
	if len(h) != MaxResultHistory || !h[len(h)-1].GetAt().AsTime().Equal(t0.Add(29*time.Minute)) {
		t.Fatalf("bounded history: %d changes, last %v", len(h), h[len(h)-1].GetAt().AsTime())
	}
	r := &fsm{state: newState(), log: quietLog()}
	r.state.restore(f.state.snapshot())
	if !proto.Equal(r.state.snapshot(), f.state.snapshot()) {
		t.Fatal("snapshot round trip changed the history")
	}

	// Paging: three agents, pages of two.
	for _, a := range []string{"edge01", "edge03"} {
		seq++
		applyCmd(t, f, seq, &mxv1.Command{ProposedAt: timestamppb.New(t0), Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{
			Batches: []*mxv1.AgentBatch{{AgentId: a, Batch: &mxv1.ResultBatch{Seq: 1, Results: []*mxv1.CheckResult{{Check: "queue", Target: "local", Status: ok}}}}}}}})
	}
	page1, next := f.state.Results(ResultFilter{}, ResultKey{}, 2)
	if len(page1) != 2 || next == nil || page1[0].GetAgentId() != "edge01" || page1[1].GetAgentId() != "edge02" {
		t.Fatalf("page 1: %d %v", len(page1), next)
	}
	page2, next2 := f.state.Results(ResultFilter{}, *next, 2)
	if len(page2) != 1 || next2 != nil || page2[0].GetAgentId() != "edge03" {
		t.Fatalf("page 2: %v %v", page2, next2)
	}
	if failing, _ := f.state.Results(ResultFilter{Failing: true}, ResultKey{}, 10); len(failing) != 1 || failing[0].GetAgentId() != "edge02" {
		t.Fatalf("failing: %v", failing)
	}
}

// A result that leaves its unchanged certificate listing out keeps the
// stored one; a replica applying the same entries from a snapshot agrees.
func TestUnchangedListingIsKept(t *testing.T) {
	f := &fsm{state: newState(), log: quietLog()}
	at := timestamppb.New(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC))
	send := func(idx, seq uint64, r *mxv1.CheckResult) {
		applyCmd(t, f, idx, &mxv1.Command{ProposedAt: at, Kind: &mxv1.Command_IngestBatches{IngestBatches: &mxv1.IngestBatches{
			Batches: []*mxv1.AgentBatch{{AgentId: "edge02", Batch: &mxv1.ResultBatch{Seq: seq, Results: []*mxv1.CheckResult{r}}}}}}})
	}
	listing := []*mxv1.CertificateSummary{{Thumbprint: "AA", Subject: "CN=a"}, {Thumbprint: "BB", Subject: "CN=b"}}
	send(1, 1, &mxv1.CheckResult{Check: "certstore", Target: "My", Status: mxv1.CheckStatus_CHECK_STATUS_OK, Certificates: listing})
	send(2, 2, &mxv1.CheckResult{Check: "certstore", Target: "My", Status: mxv1.CheckStatus_CHECK_STATUS_OK, CertificatesUnchanged: true})
	recs, _ := f.state.Results(ResultFilter{}, ResultKey{}, 10)
	if len(recs) != 1 || len(recs[0].GetResult().GetCertificates()) != 2 || recs[0].GetResult().GetCertificates()[1].GetThumbprint() != "BB" {
		t.Fatalf("listing after an unchanged round: %v", recs)
	}
	// Unchanged with nothing stored before: no listing (until the agent's next full one).
	send(3, 3, &mxv1.CheckResult{Check: "certstore", Target: "pemdir:/new", Status: mxv1.CheckStatus_CHECK_STATUS_OK, CertificatesUnchanged: true})
	if recs, _ := f.state.Results(ResultFilter{}, ResultKey{Agent: "edge02", Check: "certstore", Target: "My"}, 10); len(recs) != 1 || len(recs[0].GetResult().GetCertificates()) != 0 {
		t.Fatalf("unchanged without a stored listing: %v", recs)
	}
	// The same for an Exchange connector check's inventory document.
	send(4, 4, &mxv1.CheckResult{Check: "exchange_connectors", Target: "inv.json", ExchangeInventory: []byte(`{"FormatVersion":1}`), Certificates: listing})
	send(5, 5, &mxv1.CheckResult{Check: "exchange_connectors", Target: "inv.json", ExchangeInventoryUnchanged: true, CertificatesUnchanged: true})
	if recs, _ := f.state.Results(ResultFilter{Check: "exchange_connectors"}, ResultKey{}, 10); len(recs) != 1 ||
		string(recs[0].GetResult().GetExchangeInventory()) != `{"FormatVersion":1}` || len(recs[0].GetResult().GetCertificates()) != 2 {
		t.Fatalf("inventory after an unchanged round: %v", recs)
	}
}
