package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentStatus is `agent status --format json` (what the operator sees).
type agentStatus struct {
	Spool struct {
		LastSeq         uint64 `json:"lastSeq"`
		AcknowledgedSeq uint64 `json:"acknowledgedSeq"`
		HeldBatches     int    `json:"heldBatches"`
	} `json:"spool"`
	Loss struct {
		Batches     uint64 `json:"batches"`
		DroppedFull uint64 `json:"droppedFull"`
		WriteFailed uint64 `json:"writeFailed"`
		Corrupt     uint64 `json:"corrupt"`
		Results     uint64 `json:"results"`
		Reported    uint64 `json:"reportedToController"`
		Unresolved  uint64 `json:"unresolved"`
	} `json:"loss"`
}

func statusOf(t *testing.T, stateDir string) agentStatus {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "agent"), "status", "--state-dir", stateDir, "--format", "json").Output()
	var st agentStatus
	if err != nil || json.Unmarshal(out, &st) != nil {
		t.Fatalf("agent status: %v\n%s", err, out)
	}
	return st
}

// controllerAgent is one agent as GET /v1/agents shows it.
type controllerAgent struct {
	AgentID          string `json:"agentId"`
	LastSeq          uint64 `json:"lastSeq,string"`
	ResultsCommitted uint64 `json:"resultsCommitted,string"`
	BatchesCommitted uint64 `json:"batchesCommitted,string"`
	SpoolLoss        *struct {
		DroppedFull uint64 `json:"droppedFull,string"`
		WriteFailed uint64 `json:"writeFailed,string"`
		Corrupt     uint64 `json:"corrupt,string"`
		Results     uint64 `json:"results,string"`
	} `json:"spoolLoss"`
}

func agentOn(t *testing.T, httpAddr, id string) controllerAgent {
	t.Helper()
	code, body := get("http://" + httpAddr + "/v1/agents")
	var ab struct {
		Agents []controllerAgent `json:"agents"`
	}
	if code != 200 || json.Unmarshal(body, &ab) != nil {
		return controllerAgent{}
	}
	for _, a := range ab.Agents {
		if a.AgentID == id {
			return a
		}
	}
	return controllerAgent{}
}

var ackLine = regexp.MustCompile(`msg="batch acknowledged" seq=(\d+)`)

// highestAck is the highest acknowledgement the agent logged (debug level).
func highestAck(out string) uint64 {
	var hi uint64
	for _, m := range ackLine.FindAllStringSubmatch(out, -1) {
		if n, _ := strconv.ParseUint(m[1], 10, 64); n > hi {
			hi = n
		}
	}
	return hi
}

// corruptNewestRecord flips the last byte of the newest non-empty spool
// segment: the payload checksum of its last record fails (a disk fault or a
// write the crash tore).
func corruptNewestRecord(t *testing.T, stateDir string) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(stateDir, "spool", "seg-*.log"))
	sort.Strings(segs)
	for i := len(segs) - 1; i >= 0; i-- {
		b, err := os.ReadFile(segs[i])
		if err != nil || len(b) == 0 {
			continue
		}
		b[len(b)-1] ^= 0xff
		if err := os.WriteFile(segs[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no spool record to corrupt")
}

// faultRow is one line of the fault table: what the controller
// acknowledged to the agent against what its state holds.
type faultRow struct {
	fault                 string
	acked, present        uint64 // highest ack the agent logged; controller's last committed seq
	committed, lostReport uint64 // batches committed; lost batches the controller was told of
	lostTrue              uint64 // batches really lost (the test's own count)
}

// TestSpoolFaults drives the agent binary through the spool faults
// (docs/operations.md) against a real controller process, with a TCP proxy in between
// that can hold acks or batches or cut the link:
//
//   - killed after the controller committed seq N but before the agent
//     recorded the ack, record N damaged, a round offline: the agent never
//     reuses N (the offline round reaches the controller) and reports no
//     loss, since the controller has N;
//   - the same with a batch the controller never got: exactly one loss,
//     reported;
//   - a spool too small for an outage: the controller learns the exact
//     number dropped (the agent's own count, cumulative, not "lost 1");
//   - the spool's disk full (a tmpfs; root only): every round that could
//     not be stored is counted and reported once space is back.
//
// Every acknowledged batch must be in the controller's state; the fault
// table (go test -v) lists acked vs present.
func TestSpoolFaults(t *testing.T) {
	dir := t.TempDir()
	grpcAddr, httpAddr := freePort(t), freePort(t)
	start(t, "controller", "run", "--insecure", "--bootstrap", "--node-id", "c1", "--data-dir", filepath.Join(dir, "data"),
		"--grpc-listen", grpcAddr, "--http-listen", httpAddr, "--raft-listen", freePort(t),
		"--plan-interval", "300ms", "--plan-jitter", "10ms", "--auth-agent-batch-rate", "0")
	waitFor(t, 60*time.Second, "controller ready", func() bool { c, _ := get("http://" + httpAddr + "/readyz"); return c == 200 })
	proxy := newFaultProxy(t, grpcAddr)
	var table []faultRow

	agentArgs := func(id, stateDir, controllers string, extra ...string) []string {
		return append([]string{"run", "--insecure", "--agent-id", id, "--site", "ams", "--controllers", controllers,
			"--state-dir", stateDir, "--probe", "smtp://127.0.0.1:1", "--log-level", "debug"}, extra...)
	}
	deadPort := freePort(t) // nothing listens: offline
	var allOut strings.Builder

	// offlineRound runs the agent with no controller reachable until it
	// appended a batch above seq, then stops it.
	offlineRound := func(id, stateDir string, above uint64) {
		t.Helper()
		p := start(t, "agent", agentArgs(id, stateDir, deadPort, "--interval", "200ms")...)
		waitFor(t, 60*time.Second, "a round appended offline", func() bool { return statusOf(t, stateDir).Spool.LastSeq > above })
		p.stop(t)
		allOut.WriteString(p.output())
	}

	t.Run("committed, ack not recorded, record damaged", func(t *testing.T) {
		id, stateDir := "edge-committed", filepath.Join(dir, "a1")
		a := start(t, "agent", agentArgs(id, stateDir, proxy.addr())...)
		waitFor(t, 60*time.Second, "batches acked", func() bool { return highestAck(a.output()) >= 3 })
		// Acks stop arriving; the controller keeps committing.
		proxy.holdDown.Store(true)
		var n uint64
		waitFor(t, 60*time.Second, "the controller committing what the agent did not hear acked", func() bool {
			_ = a.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(500 * time.Millisecond) // in-flight batches land
			st, c := statusOf(t, stateDir), agentOn(t, httpAddr, id)
			if c.LastSeq > highestAck(a.output()) && c.LastSeq == st.Spool.LastSeq && st.Spool.AcknowledgedSeq < c.LastSeq {
				n = c.LastSeq
				return true
			}
			_ = a.cmd.Process.Signal(syscall.SIGCONT)
			return false
		})
		acked := highestAck(a.output())
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		allOut.WriteString(a.output())
		proxy.up()
		corruptNewestRecord(t, stateDir) // record n
		offlineRound(id, stateDir, n)
		if st := statusOf(t, stateDir); st.Spool.LastSeq <= n || st.Loss.Unresolved != 1 {
			t.Fatalf("after the offline round: %+v (seq %d reused, or the damage not noticed?)", st, n)
		}
		b := start(t, "agent", agentArgs(id, stateDir, proxy.addr())...)
		waitFor(t, 60*time.Second, "the offline round committed", func() bool { return agentOn(t, httpAddr, id).LastSeq > n+1 })
		b.stop(t)
		allOut.WriteString(b.output())
		c, st := agentOn(t, httpAddr, id), statusOf(t, stateDir)
		table = append(table, faultRow{"kill -9 after commit, before ack; record damaged; offline round", max(acked, highestAck(b.output())), c.LastSeq, c.BatchesCommitted, reported(c), 0})
		if c.BatchesCommitted != c.LastSeq || c.SpoolLoss != nil || st.Loss.Batches != 0 || st.Loss.Unresolved != 0 {
			t.Fatalf("controller %+v, agent %+v: want every batch 1..%d committed once and no loss (the damaged record was committed)", c, st, c.LastSeq)
		}
	})

	t.Run("not committed, record damaged", func(t *testing.T) {
		id, stateDir := "edge-uncommitted", filepath.Join(dir, "a2")
		a := start(t, "agent", agentArgs(id, stateDir, proxy.addr())...)
		waitFor(t, 60*time.Second, "batches acked", func() bool { return highestAck(a.output()) >= 3 })
		proxy.holdUp.Store(true) // batches stop reaching the controller
		var c0 uint64
		waitFor(t, 60*time.Second, "a batch the controller never got", func() bool {
			_ = a.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(500 * time.Millisecond)
			st, c := statusOf(t, stateDir), agentOn(t, httpAddr, id)
			if st.Spool.LastSeq > c.LastSeq+1 {
				c0 = c.LastSeq
				return true
			}
			_ = a.cmd.Process.Signal(syscall.SIGCONT)
			return false
		})
		acked := highestAck(a.output())
		_ = a.cmd.Process.Signal(syscall.SIGKILL)
		<-a.done
		allOut.WriteString(a.output())
		proxy.cut() // the held bytes die with the link
		proxy.up()
		corruptNewestRecord(t, stateDir)
		last := statusOf(t, stateDir).Spool.LastSeq
		b := start(t, "agent", agentArgs(id, stateDir, proxy.addr())...)
		waitFor(t, 60*time.Second, "the loss reported", func() bool {
			c := agentOn(t, httpAddr, id)
			return c.LastSeq > last && c.SpoolLoss != nil
		})
		b.stop(t)
		allOut.WriteString(b.output())
		c := agentOn(t, httpAddr, id)
		table = append(table, faultRow{"kill -9 with batches unsent; newest record damaged", max(acked, highestAck(b.output())), c.LastSeq, c.BatchesCommitted, reported(c), 1})
		if c.SpoolLoss.Corrupt != 1 || c.BatchesCommitted != c.LastSeq-1 || c0 == 0 {
			t.Fatalf("controller %+v (loss %+v): want exactly the damaged batch lost and reported", c, *c.SpoolLoss)
		}
		if !hasFinding(t, httpAddr, id, "AGENT_SPOOL_LOSS") {
			t.Fatal("no AGENT_SPOOL_LOSS finding")
		}
	})

	t.Run("spool full during an outage", func(t *testing.T) {
		id, stateDir := "edge-full", filepath.Join(dir, "a3")
		a := start(t, "agent", agentArgs(id, stateDir, proxy.addr(), "--spool-max-bytes", "4096")...)
		waitFor(t, 60*time.Second, "batches acked", func() bool { return highestAck(a.output()) >= 3 })
		proxy.cut()
		waitFor(t, 120*time.Second, "the spool dropping batches", func() bool { return statusOf(t, stateDir).Loss.DroppedFull >= 15 })
		proxy.up()
		// Once the backlog drains nothing more is dropped, and the next
		// batches carry the final total.
		waitFor(t, 60*time.Second, "the controller told the whole loss", func() bool {
			c, st := agentOn(t, httpAddr, id), statusOf(t, stateDir)
			return c.SpoolLoss != nil && c.SpoolLoss.DroppedFull == st.Loss.DroppedFull && st.Loss.Reported == st.Loss.Batches
		})
		a.stop(t)
		allOut.WriteString(a.output())
		c, st := agentOn(t, httpAddr, id), statusOf(t, stateDir)
		// Batches sent just before the cut may be committed and still
		// dropped from the spool (their ack never came): present may
		// exceed last_seq - dropped by those, never fall short.
		table = append(table, faultRow{"link cut, 4 KiB spool overflows", highestAck(a.output()), c.LastSeq, c.BatchesCommitted, reported(c), st.Loss.DroppedFull})
		if c.SpoolLoss.DroppedFull != st.Loss.DroppedFull || c.SpoolLoss.Results != st.Loss.Results || c.BatchesCommitted+st.Loss.DroppedFull < c.LastSeq {
			t.Fatalf("controller %+v loss %+v, agent %+v: counts differ or batches missing beyond the dropped ones", c, *c.SpoolLoss, st.Loss)
		}
	})

	t.Run("spool disk full", func(t *testing.T) {
		if runtime.GOOS != "linux" || os.Geteuid() != 0 {
			t.Skip("needs root on Linux to mount a small tmpfs")
		}
		stateDir := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", stateDir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-l", stateDir).Run() })
		id := "edge-enospc"
		a := start(t, "agent", agentArgs(id, stateDir, proxy.addr())...)
		waitFor(t, 60*time.Second, "batches acked", func() bool { return highestAck(a.output()) >= 3 })
		filler := filepath.Join(stateDir, "filler")
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		for chunk := make([]byte, 4096); ; {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
		f.Close()
		failures := func() int { return strings.Count(a.output(), "spool append failed") }
		waitFor(t, 60*time.Second, "rounds failing to store", func() bool { return failures() >= 3 })
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		n := failures()
		waitFor(t, 60*time.Second, "the write failures reported", func() bool {
			c := agentOn(t, httpAddr, id)
			return c.SpoolLoss != nil && c.SpoolLoss.WriteFailed >= uint64(n)
		})
		a.stop(t)
		allOut.WriteString(a.output())
		c := agentOn(t, httpAddr, id)
		table = append(table, faultRow{"spool disk full (ENOSPC), then freed", highestAck(a.output()), c.LastSeq, c.BatchesCommitted, reported(c), uint64(failures())})
		// A failed write consumed its reserved seq; a failed reservation
		// none: every seq is committed or one of the counted failures.
		if c.SpoolLoss.WriteFailed != uint64(failures()) || c.BatchesCommitted > c.LastSeq || c.BatchesCommitted+c.SpoolLoss.WriteFailed < c.LastSeq {
			t.Fatalf("controller %+v loss %+v; %d failed appends logged", c, *c.SpoolLoss, failures())
		}
	})

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-66s %6s %8s %10s %9s %9s\n", "fault", "acked", "present", "committed", "lost(rep)", "lost(act)")
	for _, r := range table {
		fmt.Fprintf(&b, "%-66s %6d %8d %10d %9d %9d\n", r.fault, r.acked, r.present, r.committed, r.lostReport, r.lostTrue)
		if r.present < r.acked {
			t.Errorf("%s: acked %d but the controller holds only up to %d", r.fault, r.acked, r.present)
		}
	}
	t.Log(b.String())
}

func reported(c controllerAgent) uint64 {
	if c.SpoolLoss == nil {
		return 0
	}
	return c.SpoolLoss.DroppedFull + c.SpoolLoss.WriteFailed + c.SpoolLoss.Corrupt
}

func hasFinding(t *testing.T, httpAddr, agentID, code string) bool {
	t.Helper()
	status, body := get("http://" + httpAddr + "/v1/findings?agentId=" + agentID + "&code=" + code)
	var fb findingsBody
	return status == 200 && json.Unmarshal(body, &fb) == nil && len(fb.Findings) > 0
}
