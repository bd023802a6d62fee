// Package dnslab runs a DNSSEC lab on loopback for tests: Knot DNS (knotd)
// serves and signs the lab zones, Unbound validates them with the lab's
// trust anchors. Both run unprivileged-style as child processes of the test
// on ports picked at start, in a scratch directory, and stop with Close.
//
// A zone is signed (Knot signs it on load with ECDSA P-256, no key
// rollover), unsigned (no trust anchor: answers are insecure, no AD bit), or
// bogus (signed, but the resolver's trust anchor is a key the zone does not
// hold: every answer fails validation and the resolver says SERVFAIL).
//
// Tests call Available first and skip with its reason when knotd or unbound
// is missing (scripts/test.sh and .ci/run install them: apt-get install knot
// unbound).
package dnslab

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/mxprobe/mxprobe/internal/portalloc"
)

// Signing says how a zone is served.
type Signing int

const (
	// Signed: Knot signs the zone and the resolver trusts its key.
	Signed Signing = iota
	// Unsigned: plain zone, no trust anchor (insecure).
	Unsigned
	// Bogus: Knot signs the zone but the resolver's trust anchor is another
	// key, so validation fails.
	Bogus
)

// Zone is one lab zone.
type Zone struct {
	// Origin, e.g. "signed.test." (a trailing dot is added if missing).
	Origin string
	// Records are zone-file lines with absolute owner names, e.g.
	// "mx.ok.signed.test. 300 IN A 127.0.0.2". SOA and NS are added.
	Records []string
	Signing Signing
}

// ErrUnavailable: knotd or unbound is not installed.
var ErrUnavailable = errors.New("dnslab: knotd and unbound are needed (apt-get install knot unbound)")

// Available reports whether the lab can run here.
func Available() error {
	if runtime.GOOS != "linux" {
		// The lab runs Debian's daemons; a Windows test binary under Wine
		// sees /usr/sbin through Z: but cannot start them.
		return fmt.Errorf("%w: runs on Linux only (this is %s)", ErrUnavailable, runtime.GOOS)
	}
	for _, b := range []string{"knotd", "unbound"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + b); err2 != nil {
				return fmt.Errorf("%w: %s not found", ErrUnavailable, b)
			}
		}
	}
	return nil
}

func binary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}

// Lab is a running knot + unbound pair.
type Lab struct {
	// Resolver is the validating resolver's address (host:port).
	Resolver string
	// Authoritative is knot's address: a server that answers but does not
	// validate (a "resolver" that must never be taken as secure).
	Authoritative string
	// Anchors are the DNSKEY records given to the resolver, by origin.
	Anchors map[string]string

	dir   string
	procs []*proc
	once  sync.Once
}

// proc is a child server; done closes when it exits (its goroutine, owned
// by the Lab, waits for it).
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var ports portalloc.Allocator

// errPortTaken: a server exited because its port was bound by someone else
// between the lab picking the port and the server binding it (another test
// process on the machine).
var errPortTaken = errors.New("dnslab: port taken before the server bound it")

// startAttempts bounds how often Start picks new ports after errPortTaken.
const startAttempts = 5

// Start writes the configuration into dir and starts knotd and unbound.
// ctx bounds the start (the processes run until Close). The ports are
// free when picked, but knotd and unbound bind them themselves, later: when
// another process took one in between, Start tries again on new ports.
func Start(ctx context.Context, dir string, zones []Zone) (*Lab, error) {
	return startWith(ctx, dir, zones, ports.Loopback)
}

// startWith is Start with the port picker as a parameter.
func startWith(ctx context.Context, dir string, zones []Zone, pick func() (string, error)) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var err error
	for range startAttempts {
		var l *Lab
		if l, err = start(ctx, dir, zones, pick); !errors.Is(err, errPortTaken) {
			return l, err
		}
		for _, d := range []string{"knot", "unbound"} {
			if rerr := os.RemoveAll(filepath.Join(dir, d)); rerr != nil {
				return nil, rerr
			}
		}
	}
	return nil, err
}

func start(ctx context.Context, dir string, zones []Zone, pick func() (string, error)) (*Lab, error) {
	authAddr, err := pick()
	if err != nil {
		return nil, err
	}
	resAddr, err := pick()
	if err != nil {
		return nil, err
	}
	l := &Lab{Authoritative: authAddr, Resolver: resAddr, Anchors: map[string]string{}, dir: dir}
	for i := range zones {
		zones[i].Origin = dns.Fqdn(strings.ToLower(zones[i].Origin))
	}
	if err := l.startKnot(ctx, zones); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.startUnbound(ctx, zones); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func hostPort(addr string) (string, string) {
	h, p, _ := net.SplitHostPort(addr)
	return h, p
}

func (l *Lab) startKnot(ctx context.Context, zones []Zone) error {
	kdir := filepath.Join(l.dir, "knot")
	for _, d := range []string{kdir, filepath.Join(kdir, "zones"), filepath.Join(kdir, "db")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	h, p := hostPort(l.Authoritative)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n    rundir: %q\n    listen: %s@%s\n", kdir, h, p)
	fmt.Fprintf(&conf, "database:\n    storage: %q\n", filepath.Join(kdir, "db"))
	conf.WriteString("log:\n  - target: stderr\n    any: warning\n")
	conf.WriteString("policy:\n  - id: lab\n    algorithm: ecdsap256sha256\n    ksk-lifetime: 0\n    zsk-lifetime: 0\n")
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %q\n    file: \"%%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\n", filepath.Join(kdir, "zones"))
	conf.WriteString("zone:\n")
	for _, z := range zones {
		fmt.Fprintf(&conf, "  - domain: %s\n", z.Origin)
		if z.Signing != Unsigned {
			conf.WriteString("    dnssec-signing: on\n    dnssec-policy: lab\n")
		}
		var zf strings.Builder
		fmt.Fprintf(&zf, "$ORIGIN %s\n$TTL 60\n@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n@ IN NS ns.%s\nns.%s IN A 127.0.0.1\n",
			z.Origin, z.Origin, z.Origin, z.Origin, z.Origin)
		for _, r := range z.Records {
			zf.WriteString(r + "\n")
		}
		if err := os.WriteFile(filepath.Join(kdir, "zones", strings.TrimSuffix(z.Origin, ".")+".zone"), []byte(zf.String()), 0o644); err != nil {
			return err
		}
	}
	cf := filepath.Join(kdir, "knot.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		return err
	}
	if err := l.spawn(binary("knotd"), "-c", cf); err != nil {
		return err
	}
	// Ready when every zone answers SOA (and signed ones their DNSKEY).
	for _, z := range zones {
		qt := dns.TypeSOA
		if z.Signing != Unsigned {
			qt = dns.TypeDNSKEY
		}
		var keys []dns.RR
		err := l.poll(ctx, func() error {
			r, err := exchange(l.Authoritative, z.Origin, qt, false)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				return fmt.Errorf("knot: %s %s: %s, %d answers", z.Origin, dns.TypeToString[qt], dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			keys = r.Answer
			return nil
		})
		if err != nil {
			return err
		}
		switch z.Signing {
		case Signed:
			for _, rr := range keys {
				if k, ok := rr.(*dns.DNSKEY); ok && k.Flags == 257 {
					l.Anchors[z.Origin] = k.String()
				}
			}
			if l.Anchors[z.Origin] == "" {
				return fmt.Errorf("dnslab: knot published no KSK (flags 257) for %s", z.Origin)
			}
		case Bogus:
			k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: z.Origin, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 60}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
			var priv crypto.PrivateKey
			if priv, err = k.Generate(256); err != nil || priv == nil {
				return fmt.Errorf("dnslab: generate a stray key for %s: %v", z.Origin, err)
			}
			l.Anchors[z.Origin] = k.String()
		}
	}
	return nil
}

func (l *Lab) startUnbound(ctx context.Context, zones []Zone) error {
	udir := filepath.Join(l.dir, "unbound")
	if err := os.MkdirAll(udir, 0o755); err != nil {
		return err
	}
	h, p := hostPort(l.Resolver)
	ah, ap := hostPort(l.Authoritative)
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  interface: %s@%s\n  port: %s\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: %q\n  pidfile: %q\n",
		h, p, p, udir, filepath.Join(udir, "unbound.pid"))
	conf.WriteString("  use-syslog: no\n  logfile: \"\"\n  verbosity: 0\n  do-not-query-localhost: no\n  module-config: \"validator iterator\"\n")
	conf.WriteString("  root-hints: \"\"\n  local-zone: \"test.\" nodefault\n  do-ip6: no\n  qname-minimisation: no\n  ede: yes\n  val-log-level: 0\n")
	conf.WriteString("  harden-dnssec-stripped: yes\n  cache-max-ttl: 5\n  cache-max-negative-ttl: 5\n  infra-host-ttl: 5\n")
	for _, z := range zones {
		if a := l.Anchors[z.Origin]; a != "" {
			fmt.Fprintf(&conf, "  trust-anchor: %q\n", strings.Join(strings.Fields(strings.Replace(a, "\tIN\t", " ", 1)), " "))
		}
	}
	for _, z := range zones {
		fmt.Fprintf(&conf, "stub-zone:\n  name: %q\n  stub-addr: %s@%s\n", z.Origin, ah, ap)
	}
	cf := filepath.Join(udir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		return err
	}
	if err := l.spawn(binary("unbound"), "-d", "-c", cf); err != nil {
		return err
	}
	// Ready when it answers a signed zone's SOA with AD (or any zone's SOA).
	probe, wantAD := "", false
	for _, z := range zones {
		if z.Signing == Signed {
			probe, wantAD = z.Origin, true
			break
		}
		if probe == "" && z.Signing == Unsigned {
			probe = z.Origin
		}
	}
	if probe == "" {
		return nil
	}
	return l.poll(ctx, func() error {
		r, err := exchange(l.Resolver, probe, dns.TypeSOA, true)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || wantAD && !r.AuthenticatedData {
			return fmt.Errorf("unbound: %s SOA: %s ad=%v", probe, dns.RcodeToString[r.Rcode], r.AuthenticatedData)
		}
		return nil
	})
}

func exchange(addr, name string, qt uint16, do bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	m.SetEdns0(1232, do)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

func (l *Lab) spawn(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dnslab: start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	return nil
}

// poll retries f until it succeeds, ctx ends or a child process exits.
func (l *Lab) poll(ctx context.Context, f func() error) error {
	var last error
	for {
		if last = f(); last == nil {
			return nil
		}
		for _, p := range l.procs {
			select {
			case <-p.done:
				out := p.out.String()
				if strings.Contains(strings.ToLower(out), "address already in use") {
					return fmt.Errorf("%w: %s exited: %s", errPortTaken, p.cmd.Path, out)
				}
				return fmt.Errorf("dnslab: %s exited: %s", p.cmd.Path, out)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dnslab: not ready: %v (%w); logs: %s", last, ctx.Err(), l.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Logs returns what the servers wrote (for test failure messages).
func (l *Lab) Logs() string {
	var b strings.Builder
	for _, p := range l.procs {
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(p.cmd.Path), p.out.String())
	}
	return b.String()
}

// Close stops both servers.
func (l *Lab) Close() error {
	l.once.Do(func() {
		for _, p := range l.procs {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return nil
}

// Port returns the numeric port of a host:port.
func Port(addr string) int {
	_, p := hostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}
