// Command labcerts writes the certificate stores the compose lab's agents scan
// (deploy/compose/certs), using the project's own lab PKI:
//
//	go -C deploy/helm/test run ./cmd/labcerts ../../compose/certs
//
// site-a reproduces the seed incident (a keyless duplicate of the real
// certificate, and an expired one); site-b holds a healthy certificate and an
// expired one. The files are committed so the lab needs no generation step;
// their keys are lab keys, world-readable so the non-root agent can read them.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mxprobe/mxprobe/internal/lab"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: labcerts DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "labcerts:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	ca, err := lab.NewCA("mxprobe compose lab CA")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "lab-ca.pem"), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	if _, err := lab.WriteSeedStore(filepath.Join(dir, "site-a"), ca, "edge01.site-a.lab"); err != nil {
		return err
	}
	siteB := filepath.Join(dir, "site-b")
	if err := os.MkdirAll(siteB, 0o755); err != nil {
		return err
	}
	good, err := ca.Issue(lab.IssueOptions{CommonName: "mx01.site-b.lab", NotAfter: time.Now().AddDate(8, 0, 0)})
	if err != nil {
		return err
	}
	expired, err := ca.Issue(lab.IssueOptions{CommonName: "old-mx.site-b.lab", NotAfter: time.Now().AddDate(0, -2, 0)})
	if err != nil {
		return err
	}
	for name, is := range map[string]*lab.Issued{"mx01": good, "old-mx-expired": expired} {
		key, err := is.KeyPEM()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(siteB, name+".crt"), is.ChainPEM(), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(siteB, name+".key"), key, 0o644); err != nil {
			return err
		}
	}
	// The agents run as uid 65532: make every lab file readable.
	return filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		return os.Chmod(p, 0o644)
	})
}
