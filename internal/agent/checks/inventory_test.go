package checks

import (
	"context"
	"path/filepath"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

// A certificate-store check lists every certificate of the store in its
// result, findings or not; an unreadable store lists none.
func TestCertStoreResultListsEveryCertificate(t *testing.T) {
	seed, err := lab.WriteSeedStore(filepath.Join(tempdir.New(t), "store"), newCA(t), "mail.contoso.com")
	if err != nil {
		t.Fatal(err)
	}
	uri := "pemdir:" + seed.Dir
	st, err := certread.Open(uri, certstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := RunAll(context.Background(), []Check{&CertStore{URI: uri, Store: st}, &CertStore{URI: "pemdir:/nonexistent", OpenErr: certread.ErrUnsupported}}, 2)
	got := map[string]*mxv1.CertificateSummary{}
	for _, c := range res[0].GetCertificates() {
		got[c.GetThumbprint()] = c
	}
	for _, e := range []lab.SeedEntry{seed.Good, seed.KeylessDuplicate, seed.Expired} {
		c := got[e.Thumbprint]
		if c == nil {
			t.Fatalf("%s (%s) not listed; listed %d", e.Thumbprint, e.Cert.Subject, len(got))
		}
		if c.GetHasPrivateKey() != (e.KeyFile != "") || c.GetSubject() != e.Cert.Subject.String() || !c.GetNotAfter().AsTime().Equal(e.Cert.NotAfter) || c.GetStore() != uri {
			t.Errorf("%s: %v", e.Thumbprint, c)
		}
	}
	if len(res[1].GetCertificates()) != 0 || res[1].GetStatus() != mxv1.CheckStatus_CHECK_STATUS_ERROR {
		t.Errorf("unreadable store: %v", res[1])
	}
}
