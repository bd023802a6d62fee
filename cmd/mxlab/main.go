// Command mxlab serves internal/lab's scenarios as real SMTP servers, for the
// compose lab and the container fault tests (docs/deploy.md): each --serve
// starts one server with deliberately broken (or, for "good", correct) TLS,
// and --ca-out writes the lab CA that issued their certificates, so agents
// can trust it (ca_file) and see exactly the scenario's fault.
//
//	mxlab --hostname smtp.lab.test --ca-out /var/lib/mxlab/ca.pem \
//	      --serve expired=:2525 --serve no-starttls=:2526 --serve good=:2527
//	mxlab --check /var/lib/mxlab/ca.pem   # exit 0 once the CA is written (healthcheck; the image has no shell)
//	mxlab --list                          # the scenarios
//
// The servers never accept mail. A lab tool only: do not expose it beyond a
// lab network.
package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// serveFlag collects repeated --serve SCENARIO=ADDR values.
type serveFlag []serveSpec

type serveSpec struct {
	sc   lab.Scenario
	addr string
}

func (f *serveFlag) String() string {
	var s []string
	for _, v := range *f {
		s = append(s, string(v.sc)+"="+v.addr)
	}
	return strings.Join(s, ",")
}

func (f *serveFlag) Set(v string) error {
	sc, addr, ok := strings.Cut(v, "=")
	if !ok || sc == "" || addr == "" {
		return fmt.Errorf("want SCENARIO=HOST:PORT, got %q", v)
	}
	if !known(lab.Scenario(sc)) {
		return fmt.Errorf("%w: %q (mxlab --list)", lab.ErrUnknownScenario, sc)
	}
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	*f = append(*f, serveSpec{lab.Scenario(sc), addr})
	return nil
}

func known(sc lab.Scenario) bool {
	for _, s := range lab.Scenarios() {
		if s == sc {
			return true
		}
	}
	return false
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mxlab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var serves serveFlag
	fs.Var(&serves, "serve", "SCENARIO=[HOST]:PORT: serve one lab scenario there (repeatable)")
	hostname := fs.String("hostname", lab.DefaultHostname, "name the servers announce and their certificates carry (with localhost and 127.0.0.1)")
	caOut := fs.String("ca-out", "", "write the lab CA certificate (PEM) here once the servers listen; agents trust it with ca_file")
	caCert := fs.String("ca-cert", "", "use this CA certificate (PEM) instead of a fresh one (needs --ca-key)")
	caKey := fs.String("ca-key", "", "private key (PEM, PKCS#8/PKCS#1/SEC1) of --ca-cert")
	check := fs.String("check", "", "exit 0 if this file exists and is not empty, 1 otherwise (a healthcheck for a shell-less image)")
	list := fs.Bool("list", false, "print the scenarios and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	verbose := fs.Bool("verbose", false, "log every SMTP session")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "mxlab", version.String())
		return 0
	case *list:
		for _, s := range lab.Scenarios() {
			fmt.Fprintln(stdout, s)
		}
		return 0
	case *check != "":
		if fi, err := os.Stat(*check); err != nil || fi.Size() == 0 {
			fmt.Fprintf(stderr, "mxlab: %s not ready\n", *check)
			return 1
		}
		return 0
	}
	if fs.NArg() > 0 || len(serves) == 0 {
		fmt.Fprintln(stderr, "usage: mxlab [--hostname NAME] [--ca-out FILE] --serve SCENARIO=[HOST]:PORT ... (mxlab -h)")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(ctx, serves, *hostname, *caOut, *caCert, *caKey, log); err != nil {
		fmt.Fprintln(stderr, "mxlab:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, serves serveFlag, hostname, caOut, caCert, caKey string, log *slog.Logger) error {
	ca, err := loadCA(caCert, caKey)
	if err != nil {
		return err
	}
	var servers []*lab.Server
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	for _, sv := range serves {
		s, err := lab.Start(ctx, sv.sc, lab.ServerOptions{Addr: sv.addr, Hostname: hostname, CA: ca, Logger: log})
		if err != nil {
			return err
		}
		servers = append(servers, s)
		log.Info("serving", "scenario", string(sv.sc), "addr", s.Addr(), "hostname", hostname,
			"certificate", s.Certificate().Cert.Subject.String(), "not_after", s.Certificate().Cert.NotAfter)
	}
	if caOut != "" {
		// Written after every listener is up, so a healthcheck on the file
		// means "ready".
		if err := writeAtomic(caOut, ca.CertPEM()); err != nil {
			return err
		}
		log.Info("lab CA written", "file", caOut, "subject", ca.Cert.Subject.String())
	}
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func loadCA(certFile, keyFile string) (*lab.CA, error) {
	if certFile == "" && keyFile == "" {
		return lab.NewCA("mxprobe mxlab CA")
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--ca-cert and --ca-key go together")
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(cb)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: %w", certFile, lab.ErrNotCA)
	}
	kblk, _ := pem.Decode(kb)
	if kblk == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyFile)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(kblk.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(kblk.Bytes); err != nil {
			if key, err = x509.ParseECPrivateKey(kblk.Bytes); err != nil {
				return nil, fmt.Errorf("%s: unsupported private key", keyFile)
			}
		}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key cannot sign", keyFile)
	}
	return &lab.CA{Cert: cert, Key: signer}, nil
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mxlab-ca-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
