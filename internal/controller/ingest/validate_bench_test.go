package ingest

import (
	"fmt"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// BenchmarkValidateBatch validates the batch mxbench's simulated agents
// send: 20 results, one finding each with two evidence entries.
func BenchmarkValidateBatch(b *testing.B) {
	batch := &mxv1.ResultBatch{Seq: 1}
	for i := range 20 {
		batch.Results = append(batch.Results, &mxv1.CheckResult{
			Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_OK,
			Findings: []*mxv1.Finding{{Code: "CERT_EXPIRING", Severity: mxv1.Severity_SEVERITY_WARNING, Subject: "B79D1A3C6A2F0E4B8C9D0E1F2A3B4C5D6E7F8091",
				Evidence: map[string]string{"not_after": "2026-12-20T00:00:00Z", "endpoint": "mx.contoso.test:25"}}},
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := validateBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}
