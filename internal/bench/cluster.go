package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a set of controller processes.
type Cluster struct {
	Procs []*exec.Cmd
	GRPC  []string
	HTTP  []string
	dir   string
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartCluster starts n controller processes from bin (bootstrap_expect n).
func StartCluster(ctx context.Context, bin string, n int, logTo io.Writer) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "mxbench-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	var raft []string
	for range n {
		g, err1 := freePort()
		h, err2 := freePort()
		r, err3 := freePort()
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("bench: ports: %v %v %v", err1, err2, err3)
		}
		c.GRPC, c.HTTP, raft = append(c.GRPC, g), append(c.HTTP, h), append(raft, r)
	}
	for i := range n {
		args := []string{"run", "--insecure", "--node-id", fmt.Sprintf("c%d", i+1), "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--bootstrap-expect", fmt.Sprint(n), "--grpc-listen", c.GRPC[i], "--http-listen", c.HTTP[i], "--raft-listen", raft[i],
			"--plan-interval", "1h", "--log-level", "warn"}
		for _, g := range c.GRPC {
			args = append(args, "--retry-join", g)
		}
		cmd := exec.CommandContext(ctx, bin, args...)
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
		for i, h := range c.HTTP {
			resp, err := http.Get("http://" + h + "/v1/cluster/status")
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
			if r, err := http.Get("http://" + h + "/readyz"); err == nil {
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

// GoMemory reads heap-in-use plus stack-in-use bytes from node i's /metrics
// (the memory the Go runtime holds for live objects and goroutine stacks,
// without GC headroom).
func (c *Cluster) GoMemory(i int) (int64, error) {
	resp, err := http.Get("http://" + c.HTTP[i] + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(string(b), "\n") {
		for _, name := range []string{"go_memstats_heap_inuse_bytes ", "go_memstats_stack_inuse_bytes "} {
			if strings.HasPrefix(line, name) {
				v, err := strconv.ParseFloat(strings.TrimPrefix(line, name), 64)
				if err != nil {
					return 0, err
				}
				total += v
			}
		}
	}
	return int64(total), nil
}
