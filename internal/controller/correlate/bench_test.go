package correlate

import (
	"fmt"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// scaleFleet builds a fleet with n open findings: agents of 20 checks in 10
// sites; per agent 10 probes failing to 50 remote endpoints (remote-target
// incidents), and 10 store findings: a keyless certificate with a linked
// symptom (server incidents) and CERT_EXPIRING of shared identities
// (fleet-horizon incidents).
func scaleFleet(n int) *fleet {
	fl := newFleet()
	agents := n / 20
	for a := range agents {
		id := fmt.Sprintf("agent%05d", a)
		site := fmt.Sprintf("site%02d", a%10)
		fl.agent(id, site, id+".contoso.com")
		for c := range 10 {
			ep := fmt.Sprintf("mx%02d.partner.example:25", (a+c)%50)
			fl.probe(id, ep, endpointFinding(finding.TLSHandshakeFailed, ep, errS))
		}
		host := id + ".contoso.com"
		tp := fmt.Sprintf("%040X", a)
		root := storeCertFinding(finding.CertNoPrivateKey, crit, tp, "CN="+host, "CN=Contoso CA", host, t0.Add(200*24*time.Hour))
		sym := flowFinding(finding.QueueTLSFailure, "Outbound", "tenant.mail.protection.outlook.com")
		root.Explains = []*mxv1.FindingRef{{Code: sym.Code, Subject: sym.Subject}}
		sym.ExplainedBy = []*mxv1.FindingRef{{Code: root.Code, Subject: root.Subject}}
		fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: "store", Findings: []*mxv1.Finding{root}})
		fl.report(id, &mxv1.CheckResult{Check: "queue", Target: "queues", Findings: []*mxv1.Finding{sym}})
		for c := range 8 {
			f := storeCertFinding(finding.CertExpiring, warn, fmt.Sprintf("%038X%02d", a, c), fmt.Sprintf("CN=svc%d.contoso.com", c), "CN=Contoso CA", host, t0.Add(20*24*time.Hour))
			fl.report(id, &mxv1.CheckResult{Check: "certstore", Target: fmt.Sprintf("store%d", c), Findings: []*mxv1.Finding{f}})
		}
	}
	return fl
}

// BenchmarkRound measures one steady-state correlation round (incidents
// already stored, one agent's result newly committed) at 10k and 100k open
// findings.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("findings=%d", n), func(b *testing.B) {
			fl := scaleFleet(n)
			stored := map[string]*mxv1.Incident{}
			fl.run(b, immediate, stored)
			fl.now = fl.now.Add(30 * time.Second)
			keylessOn(fl, "agent00000")
			var incs []*mxv1.Incident
			for _, k := range sortedKeys(stored) {
				incs = append(incs, stored[k])
			}
			in := fl.input(incs)
			b.ReportMetric(float64(len(incs)), "incidents")
			b.ResetTimer()
			for b.Loop() {
				Correlate(in, immediate)
			}
		})
	}
}
