package smtpprobe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/lab"
)

func startLab(t testing.TB, sc lab.Scenario, opts lab.ServerOptions) *lab.Server {
	t.Helper()
	s, err := lab.Start(context.Background(), sc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// labOptions trusts the lab CA and expects the lab host name.
func labOptions(s *lab.Server) smtpprobe.Options {
	return smtpprobe.Options{
		Timeout:    10 * time.Second,
		EHLOName:   "probe.mxprobe.test",
		ServerName: s.Hostname(),
		RootCAs:    s.CA().Pool(),
	}
}

func probe(t testing.TB, s *lab.Server, opts smtpprobe.Options) smtpprobe.Result {
	t.Helper()
	return smtpprobe.Probe(context.Background(), s.Addr(), opts)
}

func wantErrs(t *testing.T, res smtpprobe.Result, sentinels ...error) {
	t.Helper()
	for _, s := range sentinels {
		if !errors.Is(res.Err, s) {
			t.Errorf("Err = %v; want it to wrap %v", res.Err, s)
		}
	}
}

func TestProbeGood(t *testing.T) {
	t.Parallel()
	for _, last := range []bool{false, true} {
		s := startLab(t, lab.Good, lab.ServerOptions{StartTLSLast: last})
		res := probe(t, s, labOptions(s))
		if res.Err != nil || res.Phase != smtpprobe.PhaseDone || !res.OK() {
			t.Fatalf("StartTLSLast=%v: phase %s err %v verify %v", last, res.Phase, res.Err, res.TLS.Verify)
		}
		if res.GreetingCode != 220 || len(res.Banner) != 2 || !strings.HasPrefix(res.Banner[0], "mail.contoso.lab Microsoft ESMTP MAIL Service ready") {
			t.Errorf("banner %d %q", res.GreetingCode, res.Banner)
		}
		if !res.StartTLSOffered || res.UsedHELO || !strings.HasPrefix(res.EHLOGreeting, "mail.contoso.lab Hello [127.0.0.1]") {
			t.Errorf("EHLO: offered=%v helo=%v greeting %q", res.StartTLSOffered, res.UsedHELO, res.EHLOGreeting)
		}
		if c, ok := res.Capabilities.Get("size"); !ok || c.Keyword != "SIZE" || !slices.Equal(c.Params, []string{"37748736"}) {
			t.Errorf("SIZE capability %+v", c)
		}
		if res.StartTLSReply == nil || res.StartTLSReply.Code != 220 || res.StartTLSReply.Enhanced != "2.0.0" {
			t.Errorf("STARTTLS reply %+v", res.StartTLSReply)
		}
		tl := res.TLS
		if tl.Version != tls.VersionTLS13 || tl.VersionName != "TLS 1.3" || tl.CipherSuiteName == "" {
			t.Errorf("TLS %s %s", tl.VersionName, tl.CipherSuiteName)
		}
		if len(tl.PeerCertificates) != 2 || !tl.PeerCertificates[0].Equal(s.Certificate().Cert) {
			t.Errorf("peer chain of %d", len(tl.PeerCertificates))
		}
		if tl.LeafKeyAlgorithm != "ECDSA" || tl.LeafKeyBits != 256 || tl.ServerName != "mail.contoso.lab" {
			t.Errorf("leaf %s-%d sni %q", tl.LeafKeyAlgorithm, tl.LeafKeyBits, tl.ServerName)
		}
		if res.PostTLSCapabilities.Has("STARTTLS") || !res.PostTLSCapabilities.Has("AUTH") {
			t.Errorf("post-TLS capabilities %+v", res.PostTLSCapabilities)
		}
		if res.ClientCertRequested || res.ClientCertRejected {
			t.Error("client cert flags set")
		}
		d := res.Durations
		if d.Connect <= 0 || d.Handshake <= 0 || d.Total < d.Handshake {
			t.Errorf("durations %+v", d)
		}
		if res.Transcript[len(res.Transcript)-1] != "< 221 2.0.0 Service closing transmission channel" {
			t.Errorf("transcript ends %q", res.Transcript[len(res.Transcript)-1])
		}
		st := s.Stats()
		if st.Quits != 1 || st.MailCommands != 0 || st.Handshakes != 1 {
			t.Errorf("server saw %+v", st)
		}
	}
}

// With no names given the probe verifies the target host (an IP here,
// which the lab certificate carries) and sends no SNI.
func TestProbeDefaultsAndSMTPURL(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.Good, lab.ServerOptions{})
	res := smtpprobe.Probe(context.Background(), "smtp://"+s.Addr(), smtpprobe.Options{RootCAs: s.CA().Pool()})
	if !res.OK() || res.Target != s.Addr() || res.TLS.ServerName != "" || res.TLS.ExpectName != "127.0.0.1" {
		t.Fatalf("err %v target %q tls %+v", res.Err, res.Target, res.TLS)
	}
	// System roots do not know the lab CA: data, not failure.
	res = smtpprobe.Probe(context.Background(), s.Addr(), smtpprobe.Options{})
	if res.Err != nil || res.TLS.Verify.Kind() != smtpprobe.VerifyUnknownAuthority || len(res.TLS.PeerCertificates) != 2 {
		t.Errorf("system roots: err %v verify %v", res.Err, res.TLS.Verify)
	}
}

// Certificate scenarios: the handshake completes, the chain is recorded and
// the verification problem is classified exactly.
func TestProbeCertificateScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sc    lab.Scenario
		kinds []smtpprobe.VerifyKind
		chain int
	}{
		{lab.Expired, []smtpprobe.VerifyKind{smtpprobe.VerifyExpired}, 2},
		{lab.NotYetValid, []smtpprobe.VerifyKind{smtpprobe.VerifyNotYetValid}, 2},
		{lab.SelfSigned, []smtpprobe.VerifyKind{smtpprobe.VerifySelfSigned}, 1},
		{lab.WrongName, []smtpprobe.VerifyKind{smtpprobe.VerifyNameMismatch}, 2},
		{lab.MissingIntermediate, []smtpprobe.VerifyKind{smtpprobe.VerifyIncompleteChain}, 1},
		{lab.WeakKey, []smtpprobe.VerifyKind{smtpprobe.VerifyWeakKey}, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.sc), func(t *testing.T) {
			t.Parallel()
			s := startLab(t, tt.sc, lab.ServerOptions{})
			res := probe(t, s, labOptions(s))
			if res.Err != nil || res.Phase != smtpprobe.PhaseDone {
				t.Fatalf("phase %s err %v", res.Phase, res.Err)
			}
			if res.OK() || res.TLS.Verified() {
				t.Error("reported as verified")
			}
			if got := res.TLS.Verify.Kinds(); !slices.Equal(got, tt.kinds) {
				t.Errorf("verify kinds %v, want %v (%v)", got, tt.kinds, res.TLS.Verify)
			}
			if n := len(res.TLS.PeerCertificates); n != tt.chain || !res.TLS.PeerCertificates[0].Equal(s.Certificate().Cert) {
				t.Errorf("recorded chain of %d, want %d", n, tt.chain)
			}
			if s.Stats().Quits != 1 {
				t.Error("no QUIT")
			}
		})
	}
}

func TestProbeWeakKeyDetails(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.WeakKey, lab.ServerOptions{})
	res := probe(t, s, labOptions(s))
	if res.TLS.LeafKeyAlgorithm != "RSA" || res.TLS.LeafKeyBits != 1024 {
		t.Errorf("leaf key %s-%d", res.TLS.LeafKeyAlgorithm, res.TLS.LeafKeyBits)
	}
}

func TestProbeNoStartTLS(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.NoStartTLS, lab.ServerOptions{Hostname: "E19.contoso.lab"})
	res := probe(t, s, labOptions(s))
	wantErrs(t, res, smtpprobe.ErrStartTLSNotOffered)
	if res.Phase != smtpprobe.PhaseStartTLS || res.StartTLSOffered || res.TLS != nil || res.StartTLSReply != nil {
		t.Errorf("phase %s offered %v", res.Phase, res.StartTLSOffered)
	}
	var kws []string
	for _, c := range res.Capabilities {
		kws = append(kws, c.Keyword+strings.Join(append([]string{""}, c.Params...), " "))
	}
	if got := strings.Join(kws, ","); got != "SIZE 37748736,PIPELINING,DSN,ENHANCEDSTATUSCODES,X-ANONYMOUSTLS,AUTH NTLM" {
		t.Errorf("capabilities %s", got)
	}
	if s.Stats().Quits != 1 {
		t.Error("no QUIT")
	}
}

func TestProbeStartTLSRefused(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.StartTLSRefused, lab.ServerOptions{})
	res := probe(t, s, labOptions(s))
	wantErrs(t, res, smtpprobe.ErrStartTLSRefused)
	r := res.StartTLSReply
	if res.Phase != smtpprobe.PhaseStartTLS || r == nil || r.Code != 454 || r.Enhanced != "4.7.0" || r.Lines[0] != "4.7.0 TLS not available due to temporary reason" {
		t.Errorf("phase %s reply %+v", res.Phase, r)
	}
	if s.Stats().Quits != 1 {
		t.Error("no QUIT")
	}
}

func TestProbeHELOOnly(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.HELOOnly, lab.ServerOptions{})
	res := probe(t, s, labOptions(s))
	wantErrs(t, res, smtpprobe.ErrStartTLSNotOffered)
	if !res.UsedHELO || len(res.Capabilities) != 0 || !strings.HasPrefix(res.EHLOGreeting, "mail.contoso.lab Hello") {
		t.Errorf("HELO fallback: used %v greeting %q", res.UsedHELO, res.EHLOGreeting)
	}
}

func TestProbeLegacyTLS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sc        lab.Scenario
		version   uint16
		supported []uint16
	}{
		{lab.LegacyTLS, tls.VersionTLS11, []uint16{tls.VersionTLS10, tls.VersionTLS11}},
		{lab.TLS10Only, tls.VersionTLS10, []uint16{tls.VersionTLS10}},
		{lab.Good, tls.VersionTLS13, []uint16{tls.VersionTLS12, tls.VersionTLS13}},
	}
	for _, tt := range tests {
		t.Run(string(tt.sc), func(t *testing.T) {
			t.Parallel()
			s := startLab(t, tt.sc, lab.ServerOptions{})
			opts := labOptions(s)
			opts.ProbeVersions = true
			res := probe(t, s, opts)
			if !res.OK() || res.TLS.Version != tt.version {
				t.Fatalf("err %v version %s", res.Err, res.TLS.VersionName)
			}
			if len(res.SupportedVersions) != 4 {
				t.Fatalf("versions %+v", res.SupportedVersions)
			}
			for _, vr := range res.SupportedVersions {
				want := slices.Contains(tt.supported, vr.Version)
				if vr.Supported != want || res.Supports(vr.Version) != want {
					t.Errorf("%s supported=%v want %v (%v)", vr.Name, vr.Supported, want, vr.Err)
				}
				if !want && !errors.Is(vr.Err, smtpprobe.ErrHandshake) {
					t.Errorf("%s refused with %v, want ErrHandshake", vr.Name, vr.Err)
				}
			}
			if st := s.Stats(); st.Quits != 1+int64(len(tt.supported)) || st.Connections != 5 {
				t.Errorf("server saw %+v", st)
			}
		})
	}
}

func TestProbeClientCert(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.RequireClientCert, lab.ServerOptions{})
	good, err := s.CA().Issue(lab.IssueOptions{CommonName: "edge01.contoso.lab", ClientAuth: true, ServerAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := lab.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(lab.IssueOptions{CommonName: "edge01.contoso.lab", ClientAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	goodTC, foreignTC := good.TLSCertificate(), foreign.TLSCertificate()
	for _, maxV := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		name := tls.VersionName(maxV)
		t.Run(name+"/none", func(t *testing.T) {
			opts := labOptions(s)
			opts.MaxVersion = maxV
			res := probe(t, s, opts)
			wantErrs(t, res, smtpprobe.ErrHandshake, smtpprobe.ErrClientCertRejected)
			if !res.ClientCertRequested || res.ClientCertPresented || !res.ClientCertRejected || res.Phase != smtpprobe.PhaseHandshake {
				t.Errorf("requested %v presented %v rejected %v phase %s", res.ClientCertRequested, res.ClientCertPresented, res.ClientCertRejected, res.Phase)
			}
			if len(res.TLS.PeerCertificates) == 0 || res.TLS.Verify != nil || res.TLS.Alert == "" {
				t.Errorf("server chain %d verify %v alert %q", len(res.TLS.PeerCertificates), res.TLS.Verify, res.TLS.Alert)
			}
			if len(res.TLS.ClientCertAcceptableCAs) != 1 || !strings.Contains(res.TLS.ClientCertAcceptableCAs[0], "mxprobe lab root CA") {
				t.Errorf("acceptable CAs %q", res.TLS.ClientCertAcceptableCAs)
			}
		})
		t.Run(name+"/foreign", func(t *testing.T) {
			opts := labOptions(s)
			opts.MaxVersion, opts.ClientCertificate = maxV, &foreignTC
			res := probe(t, s, opts)
			wantErrs(t, res, smtpprobe.ErrHandshake, smtpprobe.ErrClientCertRejected)
			if !res.ClientCertPresented || !res.ClientCertRejected {
				t.Errorf("presented %v rejected %v", res.ClientCertPresented, res.ClientCertRejected)
			}
		})
		t.Run(name+"/good", func(t *testing.T) {
			opts := labOptions(s)
			opts.MaxVersion, opts.ClientCertificate = maxV, &goodTC
			res := probe(t, s, opts)
			if !res.OK() || !res.ClientCertRequested || !res.ClientCertPresented || res.ClientCertRejected || res.TLS.Version != maxV {
				t.Errorf("err %v requested %v presented %v rejected %v", res.Err, res.ClientCertRequested, res.ClientCertPresented, res.ClientCertRejected)
			}
		})
	}
}

// Hostile servers end in the right sentinel: the deadline (ErrTimeout) or
// the limit that stopped them, never a hang.
func TestProbeHostile(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	tests := []struct {
		sc    lab.Scenario
		phase smtpprobe.Phase
		errs  []error
	}{
		{lab.Silent, smtpprobe.PhaseBanner, []error{smtpprobe.ErrNoBanner, smtpprobe.ErrTimeout}},
		{lab.DripFeed, smtpprobe.PhaseBanner, []error{smtpprobe.ErrNoBanner, smtpprobe.ErrTimeout}},
		{lab.HugeLine, smtpprobe.PhaseBanner, []error{smtpprobe.ErrNoBanner, smtpprobe.ErrLineTooLong}},
		{lab.EndlessMultiline, smtpprobe.PhaseEHLO, []error{smtpprobe.ErrTooManyLines}},
		{lab.GarbageTLS, smtpprobe.PhaseHandshake, []error{smtpprobe.ErrHandshake}},
		{lab.CloseMidHandshake, smtpprobe.PhaseHandshake, []error{smtpprobe.ErrHandshake, smtpprobe.ErrClosed}},
	}
	for _, tt := range tests {
		t.Run(string(tt.sc), func(t *testing.T) {
			t.Parallel()
			s := startLab(t, tt.sc, lab.ServerOptions{})
			opts := labOptions(s)
			opts.Timeout = timeout
			res := probe(t, s, opts)
			wantErrs(t, res, tt.errs...)
			if res.Phase != tt.phase {
				t.Errorf("phase %s, want %s (%v)", res.Phase, tt.phase, res.Err)
			}
		})
	}
}

// A per-read idle deadline ends a silent session before the overall one
// (an hour here: only the idle deadline can have ended the probe).
func TestProbeIdleTimeout(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.Silent, lab.ServerOptions{})
	opts := labOptions(s)
	opts.Timeout = time.Hour
	opts.Limits.IdleTimeout = 300 * time.Millisecond
	res := probe(t, s, opts)
	wantErrs(t, res, smtpprobe.ErrTimeout, smtpprobe.ErrNoBanner)
}

// A slow but steady server is fine within the deadline.
func TestProbeSlowDripSucceeds(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.DripFeed, lab.ServerOptions{DripInterval: 2 * time.Millisecond})
	res := probe(t, s, labOptions(s))
	if !res.OK() {
		t.Fatalf("err %v", res.Err)
	}
}

func TestProbeCancel(t *testing.T) {
	t.Parallel()
	s := startLab(t, lab.Silent, lab.ServerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	opts := labOptions(s)
	opts.Timeout, opts.Limits.IdleTimeout = time.Hour, time.Hour // only the cancel can end it
	res := smtpprobe.Probe(ctx, s.Addr(), opts)
	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, smtpprobe.ErrTimeout) {
		t.Errorf("err %v", res.Err)
	}
}

func TestProbeConnect(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	res := smtpprobe.Probe(context.Background(), addr, smtpprobe.Options{Timeout: 2 * time.Second})
	wantErrs(t, res, smtpprobe.ErrConnect)
	if res.Phase != smtpprobe.PhaseConnect {
		t.Errorf("phase %s", res.Phase)
	}

	// A dialer that hangs is bounded by the overall deadline.
	hang := func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	res = smtpprobe.Probe(context.Background(), addr, smtpprobe.Options{Timeout: 300 * time.Millisecond, DialContext: hang})
	wantErrs(t, res, smtpprobe.ErrConnect, smtpprobe.ErrTimeout)
}

func TestProbeInvalidInput(t *testing.T) {
	t.Parallel()
	res := smtpprobe.Probe(context.Background(), "smtps://x", smtpprobe.Options{})
	wantErrs(t, res, smtpprobe.ErrInvalidTarget)
	res = smtpprobe.Probe(context.Background(), "127.0.0.1:25", smtpprobe.Options{EHLOName: "x\r\nMAIL FROM:<>"})
	wantErrs(t, res, smtpprobe.ErrInvalidOptions)
	res = smtpprobe.Probe(context.Background(), "127.0.0.1:25", smtpprobe.Options{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12})
	wantErrs(t, res, smtpprobe.ErrInvalidOptions)
}
