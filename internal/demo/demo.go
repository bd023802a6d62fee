// Package demo runs mxprobe's main job on embedded defaults, with nothing to
// install: a one-node controller (raft on disk in a temporary directory), a
// lab of local SMTP servers with deliberately broken TLS (internal/lab), and
// agents in two sites that scan certificate stores and probe the lab, and a
// generated TLS-RPT report from the senders' side (tlsrpt.go). It prints
// what the agents found, as read back from the controller, with the API
// addresses.
//
// Everything is labelled DEMO: no TLS between agents and controller, no API
// authentication, loopback only.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/certdiag"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/text"
	"github.com/mxprobe/mxprobe/internal/tlsrpt"
	"github.com/mxprobe/mxprobe/internal/version"
)

// Options configure the demo.
type Options struct {
	GRPCListen, HTTPListen, RaftListen string
	// LabListen is the first lab server's address; the others take the
	// next ports (port 0: free ports).
	LabListen string
	// Interval between agent rounds.
	Interval time.Duration
	// Once: print the first complete report and return.
	Once   bool
	Out    io.Writer
	Logger *slog.Logger
}

// labServer is one SMTP server of the demo lab and what it stands for.
type labServer struct {
	sc       lab.Scenario
	hostname string
	role     string
}

var labPlan = []labServer{
	{lab.Good, "tenant-mail-onmicrosoft-com.mail.protection.outlook.test", "Exchange Online front door (healthy)"},
	{lab.Expired, "edge01.amsterdam.contoso.test", "Edge with an expired certificate"},
	{lab.NoStartTLS, "edge03.london.contoso.test", "Edge behind a firewall stripping STARTTLS"},
	{lab.MissingIntermediate, "mbx01.london.contoso.test", "Mailbox sending no intermediate CA"},
	{lab.WrongName, "partner.fabrikam.test", "Partner whose certificate names another host"},
}

type demoAgent struct {
	id, site, host string
	role           mxv1.Role
	probes         []int // indexes into labPlan
	seed           bool  // reads the seed incident's evidence
}

var agents = []demoAgent{
	{id: "edge01", site: "amsterdam", host: "edge01.amsterdam.contoso.test", role: mxv1.Role_ROLE_EDGE, probes: []int{0, 2, 3, 4}},
	{id: "edge02", site: "amsterdam", host: "edge02.amsterdam.contoso.test", role: mxv1.Role_ROLE_EDGE, probes: []int{0, 1}, seed: true},
	{id: "mbx01", site: "london", host: "mbx01.london.contoso.test", role: mxv1.Role_ROLE_MAILBOX, probes: []int{0, 1, 2}},
}

// Waits of the demo's start (the agents' first round includes TLS probes
// with a 10 s timeout).
const (
	firstResultsWait = 60 * time.Second
	convergeWait     = 30 * time.Second
)

// Run runs the demo until ctx ends (or after the first report with Once).
func Run(ctx context.Context, o Options) error {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.LabListen == "" {
		o.LabListen = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, l := range []struct{ addr, flag string }{{o.GRPCListen, "grpc-listen"}, {o.HTTPListen, "http-listen"}, {o.RaftListen, "raft-listen"}} {
		if err := checkFree(l.addr, l.flag); err != nil {
			return err
		}
	}
	labAt, err := labAddrs(o.LabListen, len(labPlan))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dir, err := os.MkdirTemp("", "mxprobe-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ca, err := lab.NewCA("mxprobe demo lab CA")
	if err != nil {
		return err
	}
	var servers []*lab.Server
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	for i, ls := range labPlan {
		s, err := lab.Start(ctx, ls.sc, lab.ServerOptions{Addr: labAt[i], Hostname: ls.hostname, CA: ca})
		if err != nil {
			return fmt.Errorf("lab server %s: %w", ls.sc, portError(labAt[i], "lab-listen", err))
		}
		servers = append(servers, s)
	}
	seed, err := writeSeedEvidence(dir, ca, "edge02.amsterdam.contoso.test")
	if err != nil {
		return err
	}

	// The demo opens incidents on the first observation (production damps
	// flapping: two observations or five minutes by default), and holds
	// correlation until every agent's first batch is committed so that no
	// incident is built from part of the fleet.
	engine := correlate.Config{OpenAfterObservations: 1, SilentAfter: 3*o.Interval + o.Interval/10}
	var fleetReported atomic.Bool
	n, err := node.Start(ctx, node.Config{
		NodeID: "demo-1", DataDir: filepath.Join(dir, "controller"), Bootstrap: true, Insecure: true,
		GRPCListen: o.GRPCListen, HTTPListen: o.HTTPListen, RaftListen: o.RaftListen, TLSRPTListen: "127.0.0.1:0",
		Plan:        ingest.Plan{Interval: o.Interval, Jitter: o.Interval / 10, ProbeTimeout: 10 * time.Second},
		Correlation: correlate.LoopConfig{Engine: engine, Hold: func() bool { return !fleetReported.Load() }},
		Logger:      o.Logger,
	})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w (move the demo with --grpc-listen, --http-listen, --raft-listen)", err)
		}
		return err
	}
	var runners []*runner.Runner
	defer func() {
		for _, r := range runners {
			_ = r.Close()
		}
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.Run(ctx); err != nil {
			o.Logger.Error("controller", "err", err)
		}
	}()

	fmt.Fprintf(o.Out, "mxprobe demo (%s), labelled DEMO: no TLS to the controller, no API auth, loopback only.\n", version.String())
	fmt.Fprintf(o.Out, "One controller, %s in 2 sites, %s:\n", text.Count(len(agents), "agent"), text.Count(len(servers), "lab SMTP server"))
	for i, s := range servers {
		fmt.Fprintf(o.Out, "  lab %-22s %-21s %s\n", labPlan[i].sc, s.Addr(), labPlan[i].role)
	}
	fmt.Fprintf(o.Out, "  edge02 reads the seed case: certificate store %s (keyless duplicate %s), its send protocol log, its queues and connectors\n",
		seed.store.Dir, seed.store.KeylessDuplicate.Thumbprint)

	for _, a := range agents {
		r, err := newAgent(a, servers, seed, n.GRPCAddr(), dir, ca, o)
		if err != nil {
			return err
		}
		runners = append(runners, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}

	if !waitFor(ctx, firstResultsWait, func() bool { return allAcked(runners) }) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("demo: agents' first results were not committed within %s", firstResultsWait)
	}
	fleetReported.Store(true)
	// The outside view: senders' TLS-RPT report on the Edge whose expired
	// certificate the agents see, posted as a sender's https rua does.
	expired := 1 // labPlan index of lab.Expired
	report, reportID, err := expiredMXReport(labPlan[expired].hostname, servers[expired].Addr(), time.Now())
	if err != nil {
		return err
	}
	if err := postReport(ctx, n.TLSRPTAddr(), report); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(o.Out, "  TLS-RPT: posted a generated RFC 8460 report %s from %s (%d sessions to %s failed: certificate-expired) to http://%s/v1/tlsrpt\n",
		reportID, reportOrg, reportFailed, labPlan[expired].hostname, n.TLSRPTAddr())
	st := n.Store()
	converged := waitFor(ctx, convergeWait, func() bool {
		return len(unresolved(st.State())) > 0 && len(settling(st.State(), engine, time.Now())) == 0
	})
	if ctx.Err() != nil {
		return nil
	}
	printFindings(o.Out, st.State())
	printIncidents(o.Out, unresolved(st.State()))
	renewal, err := renewalPreflight(ctx, o.Out, dir, "edge02.amsterdam.contoso.test", seed)
	if err != nil {
		return fmt.Errorf("demo: renewal pre-flight: %w", err)
	}
	if err := fleetPreflight(ctx, o.Out, n.HTTPAddr(), renewal); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("demo: fleet renewal pre-flight: %w", err)
	}
	if !converged {
		fmt.Fprintf(o.Out, "\nStill settling after %s (the agents re-check every %s):\n", convergeWait, o.Interval)
		for _, m := range settling(st.State(), engine, time.Now()) {
			fmt.Fprintf(o.Out, "  %s\n", m)
		}
	}
	fmt.Fprintf(o.Out, "\nController API: http://%s/v1/findings  http://%s/v1/agents  http://%s/v1/cluster/status  (OpenAPI: /openapi.json, metrics: /metrics)\n", n.HTTPAddr(), n.HTTPAddr(), n.HTTPAddr())
	fmt.Fprintf(o.Out, "Dashboard: http://%s/\n", n.HTTPAddr())
	fmt.Fprintf(o.Out, "TLS-RPT receiver (unauthenticated, POST only): http://%s/v1/tlsrpt\n", n.TLSRPTAddr())
	fmt.Fprintf(o.Out, "gRPC (agents and ControllerService): %s\n", n.GRPCAddr())
	if o.Once {
		cancel() // stop the controller and agents before the deferred waits
		return nil
	}
	fmt.Fprintf(o.Out, "Agents re-check every %s. Press Ctrl-C to stop.\n", o.Interval)
	<-ctx.Done()
	return nil
}

// waitFor polls cond until it holds (true), ctx ends or limit passes (false).
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

func newAgent(a demoAgent, servers []*lab.Server, seed seedEvidence, controller, dir string, ca *lab.CA, o Options) (*runner.Runner, error) {
	diag := certdiag.Options{Host: a.host}
	var cs []checks.Check
	if a.seed {
		b, err := checks.NewBuilder(checks.Spec{
			CertStores: []string{"pemdir:" + seed.store.Dir}, ExchangeInventory: seed.inventory,
			ProtocolLogs: []string{seed.logs}, QueueFile: seed.queues, Diagnose: diag, Logger: o.Logger,
		})
		if err != nil {
			return nil, err
		}
		if cs, err = b.All(); err != nil {
			return nil, err
		}
	}
	for _, i := range a.probes {
		s := servers[i]
		cs = append(cs, &checks.SMTPProbe{
			URL: "smtp://" + labPlan[i].hostname + ":25", HostPort: s.Addr(), Endpoint: labPlan[i].hostname + ":25", Diag: diag,
			Opts: smtpprobe.Options{Timeout: 10 * time.Second, EHLOName: a.host, ExpectName: labPlan[i].hostname, RootCAs: ca.Pool(), ProbeVersions: true},
		})
	}
	return runner.New(runner.Config{
		Hello:       &mxv1.Hello{AgentId: a.id, Site: a.site, Hostname: a.host, Roles: []mxv1.Role{a.role}, Version: version.String(), Labels: map[string]string{"demo": "true"}},
		Controllers: []string{controller},
		StateDir:    filepath.Join(dir, "agent-"+a.id),
		Checks:      cs,
		Interval:    o.Interval,
		Logger:      o.Logger.With("agent", a.id),
	})
}

func allAcked(rs []*runner.Runner) bool {
	for _, r := range rs {
		if r.Acked() == 0 {
			return false
		}
	}
	return true
}

func printIncidents(w io.Writer, incs []*mxv1.Incident) {
	fmt.Fprintf(w, "\nIncidents (what to fix; %d open):\n", len(incs))
	for _, inc := range incs {
		fmt.Fprintf(w, "  [%s] %s %s: %s\n", finding.SeverityName(inc.GetSeverity()), strings.TrimPrefix(inc.GetScope().String(), "INCIDENT_SCOPE_"), inc.GetId(), inc.GetSummary())
		if d := inc.GetDirectionDetail(); d != "" {
			fmt.Fprintf(w, "      flow: %s\n", d)
		}
		for _, m := range inc.GetMembers() {
			if m.GetAgentId() == tlsrpt.AgentID {
				fmt.Fprintf(w, "      senders (TLS-RPT): %s\n", m.GetFinding().GetSummary())
			}
		}
		if r := inc.GetRemediation(); r != "" {
			fmt.Fprintf(w, "      fix: %s\n", r)
		}
	}
}

func printFindings(w io.Writer, st *store.State) {
	fs := st.Findings(store.FindingFilter{MinSeverity: mxv1.Severity_SEVERITY_WARNING})
	fmt.Fprintf(w, "\nFindings committed at the controller (%d at warning or worse):\n", len(fs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tSITE\tAGENT\tCODE\tSUBJECT\tSUMMARY")
	for _, o := range fs {
		f := o.GetFinding()
		subj := f.GetSubject()
		if len(subj) > 60 {
			subj = subj[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", finding.SeverityName(f.GetSeverity()), o.GetSite(), o.GetAgentId(), f.GetCode(), subj, f.GetSummary())
	}
	_ = tw.Flush()
}
