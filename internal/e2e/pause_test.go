package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
	"github.com/mxprobe/mxprobe/internal/agent/checks"
	"github.com/mxprobe/mxprobe/internal/agent/runner"
	"github.com/mxprobe/mxprobe/internal/agent/stream"
	"github.com/mxprobe/mxprobe/internal/clusterpki"
)

// ackLog records, per agent, which controller acknowledged what and when,
// from the agent's own debug log ("batch acknowledged"), plus the agent's
// last lines for a failure report.
type ackLog struct {
	mu    sync.Mutex
	first map[string]map[string]time.Time // agent -> controller -> first ack
	high  map[string]map[string]uint64    // agent -> controller -> highest ack
	lines map[string][]string
}

func newAckLog() *ackLog {
	return &ackLog{first: map[string]map[string]time.Time{}, high: map[string]map[string]uint64{}, lines: map[string][]string{}}
}

// since is when agent was first acknowledged by controller (zero: never).
func (l *ackLog) since(agent, controller string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first[agent][controller]
}

func (l *ackLog) highest(agent, controller string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.high[agent][controller]
}

func (l *ackLog) tail(agent string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[agent], "\n")
}

// handler is agent's logger, at debug level.
func (l *ackLog) handler(agent string) slog.Handler { return &ackHandler{log: l, agent: agent} }

type ackHandler struct {
	log   *ackLog
	agent string
	attrs []slog.Attr
}

func (h *ackHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *ackHandler) WithGroup(string) slog.Handler            { return h }
func (h *ackHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ackHandler{log: h.log, agent: h.agent, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *ackHandler) Handle(_ context.Context, r slog.Record) error {
	var controller string
	var seq uint64
	text := []string{r.Time.Format("15:04:05.000"), r.Level.String(), r.Message}
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "controller":
			controller = a.Value.String()
		case "seq":
			seq = a.Value.Uint64()
		}
		text = append(text, a.String())
		return true
	})
	l := h.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Message == "batch acknowledged" {
		if l.first[h.agent] == nil {
			l.first[h.agent], l.high[h.agent] = map[string]time.Time{}, map[string]uint64{}
		}
		if _, ok := l.first[h.agent][controller]; !ok {
			l.first[h.agent][controller] = r.Time
		}
		l.high[h.agent][controller] = max(l.high[h.agent][controller], seq)
		return nil
	}
	lines := append(l.lines[h.agent], strings.Join(text, " "))
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	l.lines[h.agent] = lines
	return nil
}

// stopped reports whether process pid is stopped (state T in /proc).
func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'T'
}

// TestPausedLeaderAgentsMove: SIGSTOP the leader controller (the process
// stays: its sockets accept connections, nothing answers). Every agent must
// leave it and be acknowledged by the new leader while the old one is still
// stopped, and after SIGCONT nothing acknowledged is missing from the
// cluster's state. The time from the pause to each agent's first ack from
// the new leader is logged (go test -v).
func TestPausedLeaderAgentsMove(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	sec, err := clusterpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cs := startCluster(t, 3, sec)
	l := cs.leaderIndex(t, -1)
	old := cs.procs[l]

	const agents = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	acks := newAckLog()
	var runners []*runner.Runner
	ids := make([]string, agents)
	for i := range agents {
		id, site := fmt.Sprintf("agent-%02d", i), fmt.Sprintf("site-%d", i%3)
		ids[i] = id
		r, err := runner.New(runner.Config{
			Hello:       &mxv1.Hello{AgentId: id, Site: site},
			Controllers: cs.grpc, StateDir: t.TempDir(), Checks: []checks.Check{seqCheck{}},
			Interval: 100 * time.Millisecond, Logger: slog.New(acks.handler(id)), DialOptions: cs.agentDial(t, id, site),
		})
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
		t.Cleanup(func() { r.Close() })
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	stopAgents := sync.OnceFunc(func() { cancel(); wg.Wait() })
	defer stopAgents()
	defer func() {
		if t.Failed() {
			for _, id := range ids {
				t.Logf("--- %s:\n%s", id, acks.tail(id))
			}
		}
	}()
	waitFor(t, 60*time.Second, "every agent acknowledged by the leader", func() bool {
		for _, id := range ids {
			if acks.highest(id, cs.grpc[l]) < 5 {
				return false
			}
		}
		return true
	})

	pausedAt := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.cmd.Process.Signal(syscall.SIGCONT) })
	l2 := cs.leaderIndex(t, l)
	// The old leader stays stopped for as long as this wait may take, so
	// all the progress asserted here happens while it is paused. Three
	// default ack timeouts: agents that only noticed through keepalive (30 s
	// pings, 10 s to answer) moved after 40 s and failed this.
	waitFor(t, 3*stream.DefaultAckTimeout, "every agent acknowledged by the new leader while the old one is stopped", func() bool {
		for _, id := range ids {
			if acks.since(id, cs.grpc[l2]).Before(pausedAt) {
				return false
			}
		}
		return true
	})
	if !stopped(old.cmd.Process.Pid) {
		t.Fatal("the old leader is not stopped any more: the progress above does not show that agents leave a paused leader")
	}
	// Applied there too, while the old leader is still stopped: the new
	// leader's state holds everything acknowledged so far, exactly once.
	during := make(map[string]uint64)
	for i, r := range runners {
		during[ids[i]] = r.Acked()
	}
	checkAckedPresent(t, cs, l2, during)
	if !stopped(old.cmd.Process.Pid) {
		t.Fatal("the old leader resumed before the new leader's state was checked")
	}
	var took []time.Duration
	for _, id := range ids {
		took = append(took, acks.since(id, cs.grpc[l2]).Sub(pausedAt))
	}
	slices.Sort(took)
	t.Logf("leader c%d paused: %d agents acknowledged by the new leader c%d after %s (first), %s (median), %s (last)",
		l+1, agents, l2+1, took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	// The old leader comes back as a follower; agents keep going.
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	mark := make([]uint64, agents)
	for i, r := range runners {
		mark[i] = r.Acked()
	}
	waitFor(t, 60*time.Second, "agents acknowledged after the old leader resumed", func() bool {
		for i, r := range runners {
			if r.Acked() < mark[i]+5 {
				return false
			}
		}
		return true
	})
	stopAgents()
	acked := make(map[string]uint64)
	for i, r := range runners {
		acked[ids[i]] = r.Acked()
	}
	checkAckedPresent(t, cs, cs.leaderIndex(t, -1), acked)
}
