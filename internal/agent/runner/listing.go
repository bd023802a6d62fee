package runner

import (
	"crypto/sha256"
	"time"

	"google.golang.org/protobuf/proto"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// listingRefresh is how often a store listing is sent in full even when it
// did not change, so a listing lost with a dropped spool batch is stale for
// an hour at most.
const listingRefresh = time.Hour

// listings remembers the store listings already sent, per check and target,
// to leave unchanged ones out of the next rounds (certificates_unchanged):
// a steady fleet then puts almost nothing of its inventory in the raft log.
// Only the runner's round goroutine uses it.
type listings struct {
	sent map[[3]string]sentListing
}

type sentListing struct {
	digest [32]byte
	at     time.Time
}

// elide empties the certificate listings of results whose listing equals
// the one sent before (and marks them unchanged), unless the last full one
// is older than listingRefresh.
func (l *listings) elide(results []*mxv1.CheckResult, now time.Time) {
	if l.sent == nil {
		l.sent = map[[3]string]sentListing{}
	}
	for _, r := range results {
		if len(r.GetExchangeInventory()) > 0 {
			k := [3]string{r.GetCheck(), r.GetTarget(), "exchange"}
			if l.unchanged(k, sha256.Sum256(r.GetExchangeInventory()), now) {
				r.ExchangeInventory, r.ExchangeInventoryUnchanged = nil, true
			}
		}
		if len(r.GetCertificates()) == 0 {
			continue
		}
		if l.unchanged([3]string{r.GetCheck(), r.GetTarget(), "certificates"}, digest(r.GetCertificates()), now) {
			r.Certificates, r.CertificatesUnchanged = nil, true
		}
	}
}

// unchanged reports whether d was sent under k less than listingRefresh
// ago; otherwise it records d as sent now.
func (l *listings) unchanged(k [3]string, d [32]byte, now time.Time) bool {
	if prev, ok := l.sent[k]; ok && prev.digest == d && now.Sub(prev.at) < listingRefresh {
		return true
	}
	l.sent[k] = sentListing{digest: d, at: now}
	return false
}

func digest(certs []*mxv1.CertificateSummary) [32]byte {
	h := sha256.New()
	for _, c := range certs {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		h.Write(b)
		h.Write([]byte{0})
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
