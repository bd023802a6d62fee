package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/bench"
	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/controller/incident"
	"github.com/mxprobe/mxprobe/internal/finding"
)

// The row "failure -> incident visible via API" of issue 20, end to end
// on the cluster mode's three nodes (mutual TLS, raft on disk): while the
// fleet streams at o.rate results/s (the latency run's background), a new
// server (an agent of its own, with its own certificate and connection)
// reports a certificate without its private key, and an ITSM client
// holding GET /v1/events:stream on a follower (HTTPS, API token) waits for
// the incident.opened event of that incident. The cluster runs the
// shipped damping (correlation.open_after_observations: an incident opens
// on its second observation): the server reports the failure, the probe
// waits until the API shows the incident PENDING (its first observation,
// which a real agent made a round earlier), and reports it again; the
// figure is from that report's send to the event's arrival. A real agent
// reports once per plan.interval, so with damping at 2 a failure becomes
// an incident one plan.interval later than this figure: the damping is
// the operator's choice, the figure is what the cluster adds to it.

func incidentFlags(o *options) {
	flag.IntVar(&o.incidentSamples, "incident-samples", 30, "cluster, incident: new failures per run for failure -> incident visible via API (0: skip)")
	flag.StringVar(&o.controllerBin, "controller-bin", "", "cluster, incident: run this controller binary instead of building ./cmd/controller (e.g. an older build, for a before/after)")
}

// pendingPoll is how often the probe reads the incident while waiting for
// its first observation (the API token's rate limit is 50 calls/s).
const pendingPoll = 50 * time.Millisecond

// incidentTimeout bounds the wait for one incident.
const incidentTimeout = 60 * time.Second

// incidentRun is one run's figures.
type incidentRun struct {
	// visible: opening report's send -> incident.opened on the follower's
	// stream; acked: -> the report's ack (committed through raft);
	// committed: -> the incident's proposal (the event's time, the
	// leader's clock, the same machine); pending: first report -> PENDING
	// read back.
	visible, acked, committed, pending []time.Duration
	// stages: each sample's stages (stages).
	stages []stages
	bg     latency
	// worst is the sample that took longest to be visible.
	worst sample
	// leaderCPU and leaderWait are the leader's CPU time and its threads'
	// time waiting for a CPU (run queue) per second of the samples.
	leaderCPU, leaderWait float64
	load                  string
}

// damping is the correlation damping the cluster runs with: the
// controller's defaults (bench.StartCluster sets none).
func damping() (observations int, after time.Duration) {
	observations, after = 2, 5*time.Minute
	for _, k := range config.ControllerKeys() {
		switch k.Name {
		case "correlation.open_after_observations":
			observations, _ = k.Default.(int)
		case "correlation.open_after":
			after, _ = k.Default.(time.Duration)
		}
	}
	return max(observations, 1), after
}

// dampingText says what damping the figures are under.
func dampingText() string {
	obs, after := damping()
	return fmt.Sprintf("damping as shipped: correlation.open_after_observations %d, open_after %s", obs, after)
}

// probeResults is one round of a new server's agent: its SMTP probes pass,
// its certificate store holds the certificate tp without a private key.
func probeResults(host, tp string, results int) []*mxv1.CheckResult {
	now := timestamppb.Now()
	var out []*mxv1.CheckResult
	for i := range max(results-1, 0) {
		out = append(out, &mxv1.CheckResult{Check: "smtp_probe", Target: fmt.Sprintf("smtp://mx%02d.contoso.test:25", i), Status: mxv1.CheckStatus_CHECK_STATUS_OK, StartedAt: now})
	}
	subject := "CN=" + host
	f := &mxv1.Finding{Code: string(finding.CertNoPrivateKey), Severity: mxv1.Severity_SEVERITY_CRITICAL, Subject: tp, SubjectKind: mxv1.SubjectKind_SUBJECT_KIND_CERTIFICATE,
		Summary:     fmt.Sprintf("Certificate %s (%s) in windows:LocalMachine\\My has no private key.", tp, subject),
		Evidence:    map[string]string{"thumbprint": tp, "subject": subject, "issuer": "CN=Contoso Issuing CA 01", "origin": "store", "store": `windows:LocalMachine\My`, "not_after": time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)},
		Remediation: fmt.Sprintf("On %s: import certificate %s again from a PFX that holds its private key.", host, tp)}
	return append(out, &mxv1.CheckResult{Check: "certstore", Target: `windows:LocalMachine\My`, Status: mxv1.CheckStatus_CHECK_STATUS_FAIL, StartedAt: now, Findings: []*mxv1.Finding{f}})
}

// incidentOnce measures o.incidentSamples failures with fleet streaming at
// o.rate in the background. run names this run's servers (new ones each run).
func incidentOnce(ctx context.Context, c *bench.Cluster, l int, fleet *bench.Fleet, o options, run int) (incidentRun, error) {
	var r incidentRun
	n := max(o.incidentSamples, 1)
	probes, err := c.Connect(ctx, l, n, 1, fmt.Sprintf("probe%d", run))
	if err != nil {
		return r, fmt.Errorf("probe agents: %w", err)
	}
	defer probes.Close()
	watch := (l + 1) % len(c.Procs) // a follower: the client is not told which node leads
	events, err := c.Events(ctx, watch, 0)
	if err != nil {
		return r, err
	}
	defer events.Close()

	bgCtx, stopBg := context.WithCancel(ctx)
	defer stopBg()
	bgDone := make(chan error, 1)
	go func() {
		var err error
		r.bg.p50, r.bg.p99, r.bg.max, r.bg.achieved, err = fleet.Latency(bgCtx, 24*time.Hour, o.rate, o.results, o.depth)
		bgDone <- err
	}()
	bgErr := func() error {
		stopBg()
		if err := <-bgDone; err != nil {
			return fmt.Errorf("background: %w", err)
		}
		return nil
	}
	// Let the background reach its rate before the first sample.
	select {
	case <-time.After(2 * time.Second):
	case err := <-bgDone:
		bgDone <- err
		return r, bgErr()
	}
	profDone := make(chan error, 1)
	if o.profile != "" && run == 0 {
		// The leader's CPU while the first samples run.
		go func() {
			profDone <- c.Profile(l, "profile", "seconds=15", filepath.Join(o.profile, "cpu-incident.pb.gz"))
		}()
	} else {
		profDone <- nil
	}
	obs, _ := damping()
	cpu0, err1 := c.CPU(l)
	wait0, err2 := c.RunQueueWait(l)
	start := time.Now()
	for i := range n {
		tp := fmt.Sprintf("%08X%032X", run, i)
		host := probes.Host(i)
		fp := incident.Fingerprint(mxv1.IncidentScope_INCIDENT_SCOPE_SERVER, string(finding.CertNoPrivateKey), host+"/"+tp)
		s, err := oneFailure(ctx, c, watch, probes, i, probeResults(host, tp, o.results), fp, obs, events)
		if err != nil {
			return r, errors.Join(fmt.Errorf("sample %d (%s): %w", i+1, host, err), bgErr())
		}
		r.visible, r.acked, r.committed = append(r.visible, s.visible), append(r.acked, s.acked), append(r.committed, s.committed)
		r.stages = append(r.stages, s.stages)
		if s.visible > r.worst.visible {
			r.worst = s
		}
		if s.pending > 0 {
			r.pending = append(r.pending, s.pending)
		}
	}
	r.load = loadAvg()
	cpu1, err3 := c.CPU(l)
	wait1, err4 := c.RunQueueWait(l)
	if err := errors.Join(err1, err2, err3, err4); err == nil {
		secs := time.Since(start).Seconds()
		r.leaderCPU, r.leaderWait = msf(cpu1-cpu0)/secs, msf(wait1-wait0)/secs
	}
	return r, errors.Join(bgErr(), <-profDone)
}

// sample is one failure's times (incidentRun).
type sample struct {
	visible, acked, committed, pending time.Duration
	stages                             stages
}

// stages splits a sample's visible time by the times the incident and its
// event carry (all on the leader's clock, on this machine): the report
// sent -> its raft proposal on the leader (the result's committed_at, the
// incident's last_observed_at: gRPC, the leader's ingest batching) ->
// the round that opened the incident started (opened_at: the loop's wait
// for its next round) -> that round proposed the incident (the event's
// time: the round's computation) -> incident.opened on the follower's
// stream (raft commit, the follower's apply, its SSE write).
type stages struct{ ingest, roundWait, round, deliver time.Duration }

// stagesOf are the stages of a sample whose report was sent at sent.
func stagesOf(sent time.Time, inc *mxv1.Incident, proposed, arrived time.Time) stages {
	observed, opened := inc.GetLastObservedAt().AsTime(), inc.GetOpenedAt().AsTime()
	return stages{ingest: observed.Sub(sent), roundWait: opened.Sub(observed), round: proposed.Sub(opened), deliver: arrived.Sub(proposed)}
}

func (s stages) String() string {
	return fmt.Sprintf("report -> proposed on the leader %s, -> round start %s, -> incident proposed %s, -> incident.opened on the follower %s",
		ms(s.ingest), ms(s.roundWait), ms(s.round), ms(s.deliver))
}

// oneFailure has probe agent i report results until the incident fp is
// open and returns the opening report's send -> its incident.opened event
// on the stream (visible), -> its ack (acked) and -> the event's commit
// time (committed), and the first report -> PENDING read back through the
// API (0 without damping).
func oneFailure(ctx context.Context, c *bench.Cluster, node int, probes *bench.Fleet, i int, results []*mxv1.CheckResult, fp string, obs int, events *bench.EventStream) (sample, error) {
	var s sample
	ctx, cancel := context.WithTimeout(ctx, incidentTimeout)
	defer cancel()
	for k := 1; k < obs; k++ {
		start := time.Now()
		if err := probes.Report(ctx, i, results); err != nil {
			return s, err
		}
		for {
			inc, err := c.Incident(ctx, node, fp)
			if err != nil && !errors.Is(err, bench.ErrNoIncident) {
				return s, err
			}
			if inc.GetState() == mxv1.IncidentState_INCIDENT_STATE_OPEN {
				return s, fmt.Errorf("incident %s opened after %d of %d observations", inc.GetId(), inc.GetObservations(), obs)
			}
			if int(inc.GetObservations()) >= k {
				if k == 1 {
					s.pending = time.Since(start)
				}
				break
			}
			select {
			case <-ctx.Done():
				return s, fmt.Errorf("observation %d not in the API within %s: %w", k, incidentTimeout, ctx.Err())
			case <-time.After(pendingPoll):
			}
		}
	}
	start := time.Now()
	if err := probes.Report(ctx, i, results); err != nil {
		return s, err
	}
	s.acked = time.Since(start)
	for {
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("no incident.opened within %s: %w", incidentTimeout, ctx.Err())
		case ev, ok := <-events.C:
			if !ok {
				return s, fmt.Errorf("event stream ended: %w", events.Err())
			}
			if ev.Event.GetFingerprint() != fp || ev.Event.GetType() != "incident.opened" {
				continue
			}
			s.visible, s.committed = ev.Arrived.Sub(start), ev.Event.GetTime().AsTime().Sub(start)
			// What the client then reads is the open incident.
			inc, err := c.Incident(ctx, node, ev.Event.GetIncidentId())
			if err != nil {
				return s, err
			}
			if inc.GetState() != mxv1.IncidentState_INCIDENT_STATE_OPEN || inc.GetCause() != string(finding.CertNoPrivateKey) {
				return s, fmt.Errorf("incident %s after its incident.opened: state %s, cause %s", inc.GetId(), inc.GetState(), inc.GetCause())
			}
			s.stages = stagesOf(start, inc, ev.Event.GetTime().AsTime(), ev.Arrived)
			return s, nil
		}
	}
}

// pct is the nearest-rank percentile q of sorted ds (p99 of fewer than
// 100 samples is their maximum).
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	k := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(k, 0), len(ds)-1)]
}

// quantiles are p50, p99 and max of ds.
func quantiles(ds []time.Duration) (p50, p99, mx time.Duration) {
	s := slices.Sorted(slices.Values(ds))
	if len(s) == 0 {
		return 0, 0, 0
	}
	return pct(s, 0.50), pct(s, 0.99), s[len(s)-1]
}

// p50p99 is "p50 / p99" of ds.
func p50p99(ds []time.Duration) string {
	p50, p99, _ := quantiles(ds)
	return ms(p50) + " / " + ms(p99)
}

// printIncidentRun prints one run's figures.
func printIncidentRun(i, runs int, r incidentRun, o options) {
	p50, p99, mx := quantiles(r.visible)
	a50, a99, _ := quantiles(r.acked)
	c50, c99, _ := quantiles(r.committed)
	fmt.Printf("run %d/%d: failure -> incident visible via API, %d new servers, %d agents at %d results/s offered (%.0f achieved, ack p99 %s): p50 %s, p99 %s, max %s; load %s\n",
		i+1, runs, len(r.visible), o.agents, o.rate, r.bg.achieved, ms(r.bg.p99), ms(p50), ms(p99), ms(mx), r.load)
	fmt.Printf("run %d/%d:   of which the report acked (committed) p50 %s, p99 %s; the incident committed p50 %s, p99 %s; the slowest: acked %s, committed %s, visible %s\n",
		i+1, runs, ms(a50), ms(a99), ms(c50), ms(c99), ms(r.worst.acked), ms(r.worst.committed), ms(r.worst.visible))
	fmt.Printf("run %d/%d:   the slowest's stages: %s\n", i+1, runs, r.worst.stages)
	var in, wait, round, deliver []time.Duration
	for _, st := range r.stages {
		in, wait, round, deliver = append(in, st.ingest), append(wait, st.roundWait), append(round, st.round), append(deliver, st.deliver)
	}
	fmt.Printf("run %d/%d:   stages p50 / p99: report -> proposed %s, -> round start %s, -> incident proposed %s, -> on the follower's stream %s\n", i+1, runs,
		p50p99(in), p50p99(wait), p50p99(round), p50p99(deliver))
	if r.leaderCPU > 0 {
		fmt.Printf("run %d/%d:   the leader meanwhile: %.0f ms CPU per second, %.0f ms per second waiting for a CPU (its threads' run queue wait)\n", i+1, runs, r.leaderCPU, r.leaderWait)
	}
	if len(r.pending) > 0 {
		q50, q99, _ := quantiles(r.pending)
		fmt.Printf("run %d/%d:   first report -> PENDING read back (GET every %s): p50 %s, p99 %s\n", i+1, runs, pendingPoll, ms(q50), ms(q99))
	}
}

// incidentSummary prints min / median / max over the runs.
func incidentSummary(all []incidentRun, o options, t *table) {
	if len(all) == 0 {
		return
	}
	var p50s, p99s, maxs []float64
	for _, r := range all {
		p50, p99, mx := quantiles(r.visible)
		p50s, p99s, maxs = append(p50s, msf(p50)), append(p99s, msf(p99)), append(maxs, msf(mx))
	}
	fmt.Printf("  failure -> incident visible via API (incident.opened on a follower's GET /v1/events:stream, %s), %d failures per run, %d agents at %d results/s, ms: p50 %s; p99 %s; max %s\n",
		dampingText(), o.incidentSamples, o.agents, o.rate, spreadOf(p50s).format("%.0f"), spreadOf(p99s).format("%.0f"), spreadOf(maxs).format("%.0f"))
	load := loadAvg()
	t.put(row{key: "incident-p50", value: spreadOf(p50s), load: load})
	t.put(row{key: "incident-p99", value: spreadOf(p99s), load: load})
}

// runIncident is -mode incident: the cluster of the cluster mode and its
// fleet, only the failure -> incident measurement.
func runIncident(ctx context.Context, o options, tmp string) error {
	c, l, err := startCluster(ctx, o, tmp)
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("incident: %s; each run: %d agents at %d results/s, %d new servers each reporting a certificate without its private key\n",
		dampingText(), o.agents, o.rate, o.incidentSamples)
	runs := max(o.runs, 1)
	var all []incidentRun
	var failed []string
	var fleet *bench.Fleet
	defer func() {
		if fleet != nil {
			fleet.Close()
		}
	}()
	for i := range runs {
		if fleet == nil {
			if fleet, l, err = connectFleet(ctx, c, o, fmt.Sprintf("agent%d", i)); err != nil {
				return err
			}
		}
		r, err := incidentOnce(ctx, c, l, fleet, o, i)
		if err != nil {
			// As in the cluster mode: a cut stream replaces the fleet.
			fmt.Printf("run %d/%d: ended early, not counted: %v (load %s)\n", i+1, runs, err, loadAvg())
			failed = append(failed, err.Error())
			fleet.Close()
			fleet = nil
			continue
		}
		printIncidentRun(i, runs, r, o)
		all = append(all, r)
	}
	if len(all) == 0 {
		return fmt.Errorf("no run completed: %s", strings.Join(failed, "; "))
	}
	fmt.Printf("incident, %d of %d runs completed (min / median / max), load average now %s:\n", len(all), runs, loadAvg())
	incidentSummary(all, o, o.table)
	return nil
}
