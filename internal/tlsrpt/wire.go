package tlsrpt

import (
	"encoding/json"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// jsonReport is the wire form (RFC 8460 section 4.4): ParseJSON reads it,
// MarshalJSON writes it.
type jsonReport struct {
	OrganizationName string `json:"organization-name"`
	DateRange        struct {
		Start string `json:"start-datetime"`
		End   string `json:"end-datetime"`
	} `json:"date-range"`
	ContactInfo string       `json:"contact-info,omitempty"`
	ReportID    string       `json:"report-id"`
	Policies    []jsonPolicy `json:"policies"`
}

type jsonPolicy struct {
	Policy struct {
		Type    string          `json:"policy-type"`
		Strings json.RawMessage `json:"policy-string,omitempty"`
		Domain  string          `json:"policy-domain"`
		MXHost  json.RawMessage `json:"mx-host,omitempty"`
	} `json:"policy"`
	Summary struct {
		Success *uint64 `json:"total-successful-session-count"`
		Failure *uint64 `json:"total-failure-session-count"`
	} `json:"summary"`
	Failures []jsonFailure `json:"failure-details,omitempty"`
}

type jsonFailure struct {
	ResultType  string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip,omitempty"`
	MXHostname  string `json:"receiving-mx-hostname,omitempty"`
	MXHelo      string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP string `json:"receiving-ip,omitempty"`
	Count       uint64 `json:"failed-session-count"`
	Info        string `json:"additional-information,omitempty"`
	FailureCode string `json:"failure-reason-code,omitempty"`
}

// MarshalJSON writes r as a sender would send it (the demo's report, tests):
// what ParseJSON reads back as r, but for source and received_at, which
// are not part of a report.
func MarshalJSON(r *mxv1.TLSReport) ([]byte, error) {
	jr := jsonReport{OrganizationName: r.GetOrganizationName(), ContactInfo: r.GetContactInfo(), ReportID: r.GetReportId()}
	jr.DateRange.Start = r.GetStart().AsTime().UTC().Format(time.RFC3339)
	jr.DateRange.End = r.GetEnd().AsTime().UTC().Format(time.RFC3339)
	for _, p := range r.GetPolicies() {
		var jp jsonPolicy
		jp.Policy.Type, jp.Policy.Domain = p.GetPolicyType(), p.GetPolicyDomain()
		var err error
		if jp.Policy.Strings, err = rawList(p.GetPolicyStrings()); err != nil {
			return nil, err
		}
		if jp.Policy.MXHost, err = rawList(p.GetMxHosts()); err != nil {
			return nil, err
		}
		ok, failed := p.GetSuccessfulSessions(), p.GetFailedSessions()
		jp.Summary.Success, jp.Summary.Failure = &ok, &failed
		for _, f := range p.GetFailures() {
			jp.Failures = append(jp.Failures, jsonFailure{ResultType: f.GetResultType(), SendingIP: f.GetSendingMtaIp(),
				MXHostname: f.GetReceivingMxHostname(), MXHelo: f.GetReceivingMxHelo(), ReceivingIP: f.GetReceivingIp(),
				Count: f.GetFailedSessions(), Info: f.GetAdditionalInformation(), FailureCode: f.GetFailureReasonCode()})
		}
		jr.Policies = append(jr.Policies, jp)
	}
	return json.Marshal(jr)
}

func rawList(ss []string) (json.RawMessage, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	return json.Marshal(ss)
}
