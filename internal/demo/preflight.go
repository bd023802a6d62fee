package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/certread"
	"github.com/mxprobe/mxprobe/internal/agent/exchcollect"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/certstore"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/preflight"
)

// renewalPreflight predicts edge02's next renewal: the PKI team reissued
// its certificate from another CA, so the connectors' TlsCertificateName
// (<I>old issuer<S>subject) will find nothing once the old one is removed.
// It runs what `agent preflight --new-cert` runs on edge02's store and
// inventory and prints the connector table, the failed checks and the verdict.
// renewalFiles are the renewal's files: the PEM with its key (for agent
// preflight and controller preflight, which reads it locally) and the
// public certificate alone (what the controller and the dashboard take).
type renewalFiles struct {
	pemFile, cerFile string
	cer              []byte
}

func renewalPreflight(ctx context.Context, w io.Writer, dir, host string, seed seedEvidence) (renewalFiles, error) {
	var rf renewalFiles
	other, err := lab.NewCA("mxprobe demo public CA")
	if err != nil {
		return rf, err
	}
	n, err := other.Issue(lab.IssueOptions{CommonName: host, DNSNames: []string{host}, ServerAuth: true, ClientAuth: true})
	if err != nil {
		return rf, err
	}
	key, err := n.KeyPEM()
	if err != nil {
		return rf, err
	}
	file := filepath.Join(dir, "edge02-renewal.pem")
	if err := os.WriteFile(file, append(n.ChainPEM(), key...), 0o600); err != nil {
		return rf, err
	}
	rf = renewalFiles{pemFile: file, cerFile: filepath.Join(dir, "edge02-renewal.cer"), cer: n.ChainPEM()}
	if err := os.WriteFile(rf.cerFile, rf.cer, 0o644); err != nil {
		return rf, err
	}
	st, err := certread.Open("pemdir:"+seed.store.Dir, certstore.Options{})
	if err != nil {
		return rf, err
	}
	contents, err := st.Read(ctx)
	if err != nil {
		return rf, err
	}
	cfg, err := exchcollect.LoadConfigFile(seed.inventory)
	if err != nil {
		return rf, err
	}
	newFiles, err := certstore.ReadFiles(ctx, []string{file}, certstore.Options{})
	if err != nil {
		return rf, err
	}
	r, err := preflight.Run(preflight.Input{Config: cfg, Store: contents, New: newFiles, NewFile: file,
		Diag: certdiag.Options{Now: time.Now(), Host: host}})
	if err != nil {
		return rf, err
	}
	fmt.Fprintf(w, "\nRenewal pre-flight on edge02 before importing a certificate reissued by another CA\n(agent preflight --new-cert %s --cert-store pemdir:%s --exchange-inventory %s; docs/preflight.md):\n",
		file, seed.store.Dir, seed.inventory)
	if err := preflight.WriteConnectors(w, r); err != nil {
		return rf, err
	}
	for _, c := range r.Checks {
		if c.Status == preflight.Fail {
			fmt.Fprintf(w, "  [FAIL] %s: %s\n", c.ID, c.Summary)
		}
	}
	_, err = fmt.Fprintf(w, "Verdict: %s\n", preflight.Verdict(r))
	return rf, err
}
