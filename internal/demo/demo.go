// Package demo runs mxprobe's main job on embedded defaults, with nothing to
// install: a one-node controller (raft on disk in a temporary directory), a
// lab of local SMTP servers with deliberately broken TLS (internal/lab), and
// agents in two sites that scan certificate stores and probe the lab. It
// prints what the agents found, as read back from the controller, with the
// API addresses.
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
	"text/tabwriter"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/certstore"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/diagnose"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
	"github.com/mxprobe/mxprobe/internal/agent/smtpprobe"
	"github.com/mxprobe/mxprobe/internal/controller/correlate"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/controller/ingest"
	"github.com/mxprobe/mxprobe/internal/controller/node"
	"github.com/mxprobe/mxprobe/internal/controller/store"
	"github.com/mxprobe/mxprobe/internal/finding"
	"github.com/mxprobe/mxprobe/internal/lab"
	"github.com/mxprobe/mxprobe/internal/version"
)

// Options configure the demo.
type Options struct {
	GRPCListen, HTTPListen, RaftListen string
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
	seedStore      bool
}

var agents = []demoAgent{
	{id: "edge01", site: "amsterdam", host: "edge01.amsterdam.contoso.test", role: mxv1.Role_ROLE_EDGE, probes: []int{0, 2, 3, 4}},
	{id: "edge02", site: "amsterdam", host: "edge02.amsterdam.contoso.test", role: mxv1.Role_ROLE_EDGE, probes: []int{0, 1}, seedStore: true},
	{id: "mbx01", site: "london", host: "mbx01.london.contoso.test", role: mxv1.Role_ROLE_MAILBOX, probes: []int{0, 1, 2}},
}

// Run runs the demo until ctx ends (or after the first report with Once).
func Run(ctx context.Context, o Options) error {
	if o.Interval <= 0 {
		o.Interval = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
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
	for _, ls := range labPlan {
		s, err := lab.Start(ctx, ls.sc, lab.ServerOptions{Hostname: ls.hostname, CA: ca})
		if err != nil {
			return fmt.Errorf("demo: lab server %s: %w", ls.sc, err)
		}
		servers = append(servers, s)
	}
	seed, err := lab.WriteSeedStore(filepath.Join(dir, "edge02-store"), ca, "edge02.amsterdam.contoso.test")
	if err != nil {
		return fmt.Errorf("demo: seed store: %w", err)
	}

	n, err := node.Start(ctx, node.Config{
		NodeID: "demo-1", DataDir: filepath.Join(dir, "controller"), Bootstrap: true, Insecure: true,
		GRPCListen: o.GRPCListen, HTTPListen: o.HTTPListen, RaftListen: o.RaftListen,
		Plan: ingest.Plan{Interval: o.Interval, Jitter: o.Interval / 10, ProbeTimeout: 10 * time.Second},
		// The demo opens incidents on the first observation (production damps
		// flapping: two observations or five minutes by default).
		Correlation: correlate.LoopConfig{Engine: correlate.Config{OpenAfterObservations: 1}},
		Logger:      o.Logger,
	})
	if err != nil {
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

	fmt.Fprintf(o.Out, "mxprobe %s DEMO: one controller, %d agents in 2 sites, %d lab SMTP servers on loopback (no TLS to the controller, no API auth).\n", version.String(), len(agents), len(servers))
	for i, s := range servers {
		fmt.Fprintf(o.Out, "  lab %-22s %-21s %s\n", labPlan[i].sc, s.Addr(), labPlan[i].role)
	}
	fmt.Fprintf(o.Out, "  edge02's certificate store %s holds the seed case: keyless duplicate %s\n", seed.Dir, seed.KeylessDuplicate.Thumbprint)

	for _, a := range agents {
		r, err := newAgent(a, servers, seed.Dir, n.GRPCAddr(), dir, ca, o)
		if err != nil {
			return err
		}
		runners = append(runners, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}

	// Wait until every agent's first batch is committed.
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for !allAcked(runners) {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C:
			return errors.New("demo: agents' first results were not committed within 60s")
		case <-time.After(100 * time.Millisecond):
		}
	}
	printFindings(o.Out, n.Store().State())
	open, _ := incident.ParseFilter(`state = "OPEN"`)
	incWait := time.NewTimer(20 * time.Second)
	defer incWait.Stop()
	for len(n.Store().State().Incidents(open)) == 0 {
		select {
		case <-ctx.Done():
			return nil
		case <-incWait.C:
			return errors.New("demo: no incident opened within 20s of the first results")
		case <-time.After(100 * time.Millisecond):
		}
	}
	time.Sleep(time.Second) // let the round that saw every agent's first batch commit
	printIncidents(o.Out, n.Store().State().Incidents(open))
	fmt.Fprintf(o.Out, "\nController API: http://%s/v1/findings  http://%s/v1/agents  http://%s/v1/cluster/status  (OpenAPI: /openapi.json, metrics: /metrics)\n", n.HTTPAddr(), n.HTTPAddr(), n.HTTPAddr())
	fmt.Fprintf(o.Out, "Dashboard: http://%s/\n", n.HTTPAddr())
	fmt.Fprintf(o.Out, "gRPC (agents and ControllerService): %s\n", n.GRPCAddr())
	if o.Once {
		cancel() // stop the controller and agents before the deferred waits
		return nil
	}
	fmt.Fprintf(o.Out, "Agents re-check every %s. Press Ctrl-C to stop.\n", o.Interval)
	<-ctx.Done()
	return nil
}

func newAgent(a demoAgent, servers []*lab.Server, seedDir, controller, dir string, ca *lab.CA, o Options) (*runner.Runner, error) {
	diag := diagnose.Options{Host: a.host}
	var cs []checks.Check
	if a.seedStore {
		uri := "pemdir:" + seedDir
		st, err := certstore.Open(uri, certstore.Options{})
		if err != nil {
			return nil, err
		}
		cs = append(cs, &checks.CertStore{URI: uri, Store: st, Opts: diag})
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
