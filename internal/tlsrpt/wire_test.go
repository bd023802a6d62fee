package tlsrpt

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// What MarshalJSON writes, ParseJSON reads back unchanged: one owner of the
// wire form for both directions.
func TestMarshalJSONRoundTrips(t *testing.T) {
	end := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	r := &mxv1.TLSReport{ReportId: "2026-12-02T12:00:00Z_contoso.test", OrganizationName: "Microsoft Corporation",
		ContactInfo: "tlsrpt-noreply@microsoft.com", Start: timestamppb.New(end.Add(-24 * time.Hour)), End: timestamppb.New(end),
		Policies: []*mxv1.TLSReportPolicy{{
			PolicyType: "sts", PolicyDomain: "contoso.test", PolicyStrings: []string{"version: STSv1", "mode: enforce"},
			MxHosts: []string{"*.contoso.test"}, SuccessfulSessions: 1250, FailedSessions: 412,
			Failures: []*mxv1.TLSReportFailure{{ResultType: "certificate-expired", SendingMtaIp: "203.0.113.25",
				ReceivingMxHostname: "edge02.contoso.test", ReceivingIp: "192.0.2.2", FailedSessions: 412, FailureReasonCode: "x"}},
		}, {PolicyType: "no-policy-found", PolicyDomain: "fabrikam.test"}}}
	b, err := MarshalJSON(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseJSON(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !proto.Equal(got, r) {
		t.Errorf("round trip:\n got %v\nwant %v\n%s", got, r, b)
	}
}
