package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mxprobe/mxprobe/internal/clusterpki"
	"github.com/mxprobe/mxprobe/internal/portalloc"
)

// Cluster is a set of controller processes.
type Cluster struct {
	Procs []*exec.Cmd
	GRPC  []string
	HTTP  []string
	dir   string
	sec   *clusterpki.PKI // nil: insecure cluster
	http  *http.Client
}

// StartCluster starts n controller processes from bin (bootstrap_expect n).
// A secure cluster runs as production does: mutual TLS between nodes and
// with agents (each simulated agent has its own certificate from the agent
// CA, so its own connection), HTTPS and an API token; otherwise --insecure.
func StartCluster(ctx context.Context, bin string, n int, logTo io.Writer, secure bool) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "mxbench-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, http: &http.Client{Timeout: 60 * time.Second}}
	var ports portalloc.Allocator
	if secure {
		if c.sec, err = clusterpki.New(dir); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("bench: pki: %w", err)
		}
		c.http = c.sec.HTTPClient()
	}
	var raft []string
	for range n {
		g, err1 := ports.Loopback()
		h, err2 := ports.Loopback()
		r, err3 := ports.Loopback()
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("bench: ports: %v %v %v", err1, err2, err3)
		}
		c.GRPC, c.HTTP, raft = append(c.GRPC, g), append(c.HTTP, h), append(raft, r)
	}
	for i := range n {
		args := []string{"run", "--node-id", fmt.Sprintf("c%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--bootstrap-expect", fmt.Sprint(n), "--grpc-listen", c.GRPC[i], "--http-listen", c.HTTP[i], "--raft-listen", raft[i],
			"--plan-interval", "1h", "--log-level", "warn", "--debug-pprof",
			// Simulated agents send back to back, far above the per-agent
			// limit that protects a real cluster (5 batches/s; real agents
			// send one per round): measure the cluster, not the limiter.
			"--auth-agent-batch-rate", "0"}
		for _, g := range c.GRPC {
			args = append(args, "--retry-join", g)
		}
		cmd := exec.CommandContext(ctx, bin, args...)
		if c.sec == nil {
			cmd.Args = append(cmd.Args, "--insecure")
		} else {
			tlsArgs, err := c.sec.NodeArgs(dir, i)
			if err != nil {
				c.Stop()
				return nil, err
			}
			cmd.Args = append(cmd.Args, tlsArgs...)
			cmd.Env = append(os.Environ(), "MXPROBE_AUTH_BOOTSTRAP_TOKEN="+c.sec.Token)
		}
		cmd.Stdout, cmd.Stderr = logTo, logTo
		if err := cmd.Start(); err != nil {
			c.Stop()
			return nil, err
		}
		c.Procs = append(c.Procs, cmd)
	}
	return c, nil
}

// Leader waits for the leader and returns its index.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for {
		for i := range c.HTTP {
			resp, err := c.get(i, "/v1/cluster/status")
			if err != nil {
				continue
			}
			var st struct {
				State string `json:"state"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.State != "leader" {
				continue
			}
			if r, err := c.get(i, "/readyz"); err == nil {
				r.Body.Close()
				if r.StatusCode == 200 {
					return i, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RSS is the resident set size of process i, from /proc.
func (c *Cluster) RSS(i int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Procs[i].Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS for pid %d", c.Procs[i].Process.Pid)
}

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// Linux whatever the kernel's own tick).
const userHZ = 100

// CPU is the CPU time (user + system) process i has used so far, from
// /proc.
func (c *Cluster) CPU(i int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Procs[i].Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are
	// plain: utime and stime are fields 14 and 15.
	end := strings.LastIndexByte(string(b), ')')
	if end < 0 {
		return 0, fmt.Errorf("bench: unexpected /proc/%d/stat", c.Procs[i].Process.Pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short /proc/%d/stat", c.Procs[i].Process.Pid)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %w", c.Procs[i].Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// Stop terminates every process and removes the data.
func (c *Cluster) Stop() {
	for _, p := range c.Procs {
		if p.Process != nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range c.Procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(c.dir)
}

// Memory is what node i's Go runtime reports (/metrics).
type Memory struct {
	RSS        int64 // resident set size, from /proc
	HeapInuse  int64 // spans holding objects, live or not yet collected
	HeapAlloc  int64 // bytes of objects; right after a GC, the live heap
	Stack      int64 // goroutine stacks
	Goroutines int64
}

// Memory reads node i's memory figures. With gc set it first has the node
// run a garbage collection (through /debug/pprof/heap?gc=1), so HeapAlloc
// is the live heap: what connections cost before GC headroom.
func (c *Cluster) Memory(i int, gc bool) (Memory, error) {
	var m Memory
	// Each collection halves stacks using under a quarter of their size,
	// so a few let goroutine stacks settle to what idle streams need.
	for range map[bool]int{true: 3, false: 0}[gc] {
		if err := c.Profile(i, "heap", "gc=1", os.DevNull); err != nil {
			return m, err
		}
	}
	rss, err := c.RSS(i)
	if err != nil {
		return m, err
	}
	m.RSS = rss
	resp, err := c.get(i, "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("bench: /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return m, err
	}
	fields := map[string]*int64{"go_memstats_heap_inuse_bytes": &m.HeapInuse, "go_memstats_heap_alloc_bytes": &m.HeapAlloc,
		"go_memstats_stack_inuse_bytes": &m.Stack, "go_goroutines": &m.Goroutines}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if dst := fields[name]; ok && dst != nil {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return m, fmt.Errorf("bench: /metrics %s: %w", name, err)
			}
			*dst = int64(v)
		}
	}
	return m, nil
}

// get reads path from node i's HTTP port (HTTPS with the API token when
// the cluster is secure).
func (c *Cluster) get(i int, path string) (*http.Response, error) {
	return c.getCtx(context.Background(), c.http, i, path)
}

// getCtx is get with a context, through the client cl.
func (c *Cluster) getCtx(ctx context.Context, cl *http.Client, i int, path string) (*http.Response, error) {
	scheme := "http://"
	if c.sec != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+c.HTTP[i]+path, nil)
	if err != nil {
		return nil, err
	}
	if c.sec != nil {
		req.Header.Set("Authorization", "Bearer "+c.sec.Token)
	}
	return cl.Do(req)
}

// Profile saves node i's /debug/pprof/<name> (query e.g. "seconds=10") to
// file, for `go tool pprof`.
func (c *Cluster) Profile(i int, name, query, file string) error {
	resp, err := c.get(i, "/debug/pprof/"+name+"?"+query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: profile %s: %s", name, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
