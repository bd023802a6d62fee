package runner

import (
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

func storeResult(thumbprints ...string) *mxv1.CheckResult {
	r := &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`}
	for _, tp := range thumbprints {
		r.Certificates = append(r.Certificates, &mxv1.CertificateSummary{Thumbprint: tp, Subject: "CN=" + tp})
	}
	return r
}

// An unchanged listing is left out (marked unchanged) until it changes or
// an hour has passed; other stores and results are untouched.
func TestListingsSentOnlyWhenChangedOrHourly(t *testing.T) {
	var l listings
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	round := func(at time.Time, rs ...*mxv1.CheckResult) []*mxv1.CheckResult {
		l.elide(rs, at)
		return rs
	}
	if r := round(t0, storeResult("A", "B"))[0]; len(r.GetCertificates()) != 2 || r.GetCertificatesUnchanged() {
		t.Fatalf("first round: %v", r)
	}
	rs := round(t0.Add(time.Minute), storeResult("A", "B"), &mxv1.CheckResult{Check: "smtp_probe", Target: "smtp://x:25"})
	if len(rs[0].GetCertificates()) != 0 || !rs[0].GetCertificatesUnchanged() || rs[1].GetCertificatesUnchanged() {
		t.Fatalf("unchanged round: %v", rs)
	}
	if r := round(t0.Add(2*time.Minute), storeResult("A", "C"))[0]; len(r.GetCertificates()) != 2 || r.GetCertificatesUnchanged() {
		t.Fatalf("changed listing: %v", r)
	}
	if r := round(t0.Add(3*time.Minute), storeResult("A", "C"))[0]; !r.GetCertificatesUnchanged() {
		t.Fatalf("unchanged again: %v", r)
	}
	if r := round(t0.Add(2*time.Minute+listingRefresh), storeResult("A", "C"))[0]; len(r.GetCertificates()) != 2 {
		t.Fatalf("hourly refresh: %v", r)
	}
	other := storeResult("A", "C")
	other.Target = "pemdir:/etc/ssl"
	if r := round(t0.Add(4*time.Minute), other)[0]; len(r.GetCertificates()) != 2 {
		t.Fatalf("another store's first listing: %v", r)
	}
}

// An Exchange connector check's inventory document is left out the same
// way, independently of its listing.
func TestInventoryDocumentSentOnlyWhenChanged(t *testing.T) {
	var l listings
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	res := func(doc string, tps ...string) *mxv1.CheckResult {
		r := storeResult(tps...)
		r.Check, r.Target, r.ExchangeInventory = "exchange_connectors", "inv.json", []byte(doc)
		return r
	}
	r := res("v1", "A")
	l.elide([]*mxv1.CheckResult{r}, t0)
	if string(r.GetExchangeInventory()) != "v1" || r.GetExchangeInventoryUnchanged() {
		t.Fatalf("first round: %v", r)
	}
	r = res("v1", "B")
	l.elide([]*mxv1.CheckResult{r}, t0.Add(time.Minute))
	if len(r.GetExchangeInventory()) != 0 || !r.GetExchangeInventoryUnchanged() || r.GetCertificatesUnchanged() {
		t.Fatalf("same document, new listing: %v", r)
	}
	r = res("v2", "B")
	l.elide([]*mxv1.CheckResult{r}, t0.Add(2*time.Minute))
	if string(r.GetExchangeInventory()) != "v2" || r.GetExchangeInventoryUnchanged() || !r.GetCertificatesUnchanged() {
		t.Fatalf("changed document: %v", r)
	}
	r = res("v2", "B")
	l.elide([]*mxv1.CheckResult{r}, t0.Add(2*time.Minute+listingRefresh))
	if string(r.GetExchangeInventory()) != "v2" {
		t.Fatalf("hourly refresh: %v", r)
	}
}
