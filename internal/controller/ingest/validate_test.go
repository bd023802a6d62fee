package ingest

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func goodBatch() *mxv1.ResultBatch {
	return &mxv1.ResultBatch{Seq: 1, Results: []*mxv1.CheckResult{{Check: "certstore", Target: "pemdir:/x", Status: mxv1.CheckStatus_CHECK_STATUS_FAIL,
		Findings: []*mxv1.Finding{{Code: "CERT_NO_PRIVATE_KEY", Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: "B79D",
			Evidence: map[string]string{"store": "pemdir:/x"}, ExplainedBy: []*mxv1.FindingRef{{Code: "CERT_DUPLICATE_IDENTITY", Subject: "x"}}}},
		Certificates: []*mxv1.CertificateSummary{{Thumbprint: "B79D1A3C0000000000000000000000000000B79D", Subject: "CN=mail.contoso.com", Issuer: "CN=Contoso CA", KeyStatus: "absent",
			Store: "pemdir:/x", DnsNames: []string{"mail.contoso.com"}}}}}}
}

func TestValidateBatch(t *testing.T) {
	if err := validateBatch(goodBatch()); err != nil {
		t.Fatalf("good batch refused: %v", err)
	}
	bad := map[string]func(b *mxv1.ResultBatch){
		"seq 0":                    func(b *mxv1.ResultBatch) { b.Seq = 0 },
		"lower-case code":          func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].Code = "cert_expired" },
		"unknown severity":         func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].Severity = 99 },
		"huge subject":             func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].Subject = strings.Repeat("A", 5000) },
		"too much evidence":        func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].Evidence = manyMap(65) },
		"NUL in summary":           func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].Summary = "a\x00b" },
		"empty check":              func(b *mxv1.ResultBatch) { b.Results[0].Check = "" },
		"too many findings":        func(b *mxv1.ResultBatch) { b.Results[0].Findings = manyFindings(257) },
		"bad reference code":       func(b *mxv1.ResultBatch) { b.Results[0].Findings[0].ExplainedBy[0].Code = "x y" },
		"unknown status":           func(b *mxv1.ResultBatch) { b.Results[0].Status = 7 },
		"nil result":               func(b *mxv1.ResultBatch) { b.Results = append(b.Results, nil) },
		"too many results":         func(b *mxv1.ResultBatch) { b.Results = make([]*mxv1.CheckResult, maxResultsPerBatch+1) },
		"lower-case thumbprint":    func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].Thumbprint = "b79d" },
		"unchanged with a listing": func(b *mxv1.ResultBatch) { b.Results[0].CertificatesUnchanged = true },
		"nil certificate":          func(b *mxv1.ResultBatch) { b.Results[0].Certificates = append(b.Results[0].Certificates, nil) },
		"too many certificates": func(b *mxv1.ResultBatch) {
			b.Results[0].Certificates = make([]*mxv1.CertificateSummary, maxCertificates+1)
		},
		"huge issuer":       func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].Issuer = strings.Repeat("A", 5000) },
		"too many names":    func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].DnsNames = make([]string, 33) },
		"NUL in a DNS name": func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].DnsNames[0] = "a\x00b" },
		"huge DER":          func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].Der = make([]byte, maxDER+1) },
		"DER over the result budget": func(b *mxv1.ResultBatch) {
			c := b.Results[0].Certificates[0]
			b.Results[0].Certificates = nil
			for range maxDERPerResult/maxDER + 1 {
				d := proto.CloneOf(c)
				d.Der = make([]byte, maxDER)
				b.Results[0].Certificates = append(b.Results[0].Certificates, d)
			}
		},
		"unknown key access": func(b *mxv1.ResultBatch) { b.Results[0].Certificates[0].TransportKeyAccess = "maybe" },
		"huge inventory":     func(b *mxv1.ResultBatch) { b.Results[0].ExchangeInventory = make([]byte, maxInventoryDocument+1) },
		"unchanged inventory with one": func(b *mxv1.ResultBatch) {
			b.Results[0].ExchangeInventory, b.Results[0].ExchangeInventoryUnchanged = []byte("{}"), true
		},
	}
	for name, mutate := range bad {
		b := goodBatch()
		mutate(b)
		if err := validateBatch(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func manyMap(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[strings.Repeat("k", i+1)] = "v"
	}
	return m
}

func manyFindings(n int) []*mxv1.Finding {
	var out []*mxv1.Finding
	for range n {
		out = append(out, &mxv1.Finding{Code: "CERT_EXPIRED"})
	}
	return out
}

// FuzzValidate feeds arbitrary bytes, decoded as the two agent messages,
// through validation: it must never panic, and whatever it accepts stays
// within the documented bounds.
func FuzzValidate(f *testing.F) {
	b, _ := proto.Marshal(goodBatch())
	f.Add(b)
	h, _ := proto.Marshal(&mxv1.Hello{AgentId: "edge01", Site: "ams", Labels: map[string]string{"a": "b"}})
	f.Add(h)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch mxv1.ResultBatch
		if proto.Unmarshal(data, &batch) == nil && validateBatch(&batch) == nil {
			if batch.GetSeq() == 0 || len(batch.GetResults()) > maxResultsPerBatch {
				t.Fatalf("accepted out-of-bounds batch")
			}
			for _, r := range batch.GetResults() {
				for _, fd := range r.GetFindings() {
					if !upperSnake(fd.GetCode()) || len(fd.GetSubject()) > maxMedium {
						t.Fatalf("accepted bad finding %v", fd)
					}
				}
				if len(r.GetCertificates()) > maxCertificates {
					t.Fatalf("accepted %d certificates", len(r.GetCertificates()))
				}
				for _, c := range r.GetCertificates() {
					if c.GetThumbprint() == "" || len(c.GetSubject()) > maxMedium+3 || len(c.GetDnsNames()) > 32 {
						t.Fatalf("accepted bad certificate %v", c)
					}
				}
			}
		}
		var hello mxv1.Hello
		if proto.Unmarshal(data, &hello) == nil && validateHello(&hello) == nil {
			if hello.GetAgentId() == "" || len(hello.GetAgentId()) > maxIDLen || len(hello.GetLabels()) > maxLabels {
				t.Fatalf("accepted bad hello %v", &hello)
			}
		}
	})
}
