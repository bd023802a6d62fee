package helmtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds ./cmd/NAME of the main module into dir.
func buildBinary(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	return out
}

// TestRenderedConfigFormsCluster starts one controller process per pod of a
// replicas=3 render, each with the rendered ConfigMap and the pod's rendered
// environment and arguments. The only changes, because three "pods" share one
// host here without cluster DNS:
//   - every pod DNS name <pod>.<headless>.<ns>.svc.<domain> becomes a distinct
//     loopback address 127.0.8.<ordinal+1> (ports unchanged),
//   - the wildcard listen host ":PORT" becomes that pod's loopback address
//     (three processes cannot all bind :7400 on one host),
//   - data_dir and the --config path point into a temporary directory.
//
// Everything else (bootstrap_expect, retry_join, advertise env, ports, plan,
// raft settings, args) is byte-for-byte the chart's.
func TestRenderedConfigFormsCluster(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.8.0/24 on the loopback interface (Linux)")
	}
	if testing.Short() {
		t.Skip("starts three controller processes")
	}
	_, o := mustRender(t, map[string]any{})
	sts := controllerSTS(t, o)
	cfgText := controllerYAML(t, o)
	container := sts.Spec.Template.Spec.Containers[0]
	const replicas = 3
	domain := "mx-mxprobe-headless.mail.svc.cluster.local"

	// Fail early and clearly if something else holds the ports.
	for i := range replicas {
		for _, port := range []int{7400, 7401, 7402} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.8.%d:%d", i+1, port))
			if err != nil {
				t.Skipf("loopback address/port not available: %v", err)
			}
			ln.Close()
		}
	}

	dir := t.TempDir()
	bin := buildBinary(t, dir, "controller")
	// substitute turns the rendered text for one pod into what runs on this host.
	names := map[string]string{}
	for i := range replicas {
		names[fmt.Sprintf("%s-%d.%s", sts.Name, i, domain)] = fmt.Sprintf("127.0.8.%d", i+1)
	}
	substitute := func(s string, ordinal int, dataDir string) string {
		for name, ip := range names {
			s = strings.ReplaceAll(s, name, ip)
		}
		self := fmt.Sprintf("127.0.8.%d", ordinal+1)
		for _, port := range []string{"7400", "7401", "7402"} {
			s = strings.ReplaceAll(s, "listen: :"+port, "listen: "+self+":"+port)
		}
		return strings.ReplaceAll(s, "data_dir: /var/lib/mxprobe", "data_dir: "+dataDir)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var procs []*exec.Cmd
	var logs []string
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for i, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = p.Process.Kill()
				<-done
			}
			if t.Failed() {
				b, _ := os.ReadFile(logs[i])
				t.Logf("controller %d log:\n%s", i, tail(string(b), 4000))
			}
		}
	}()
	for i := range replicas {
		pod := PodName(sts, i)
		podDir := filepath.Join(dir, pod)
		if err := os.MkdirAll(filepath.Join(podDir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(podDir, "controller.yaml")
		if err := os.WriteFile(cfgFile, []byte(substitute(cfgText, i, filepath.Join(podDir, "data"))), 0o600); err != nil {
			t.Fatal(err)
		}
		env, err := PodEnv(container, pod, nil)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string(nil), container.Args...)
		for j := range args {
			if args[j] == "/etc/mxprobe/controller.yaml" {
				args[j] = cfgFile
			}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+substitute(v, i, ""))
		}
		logFile := filepath.Join(podDir, "log")
		f, err := os.Create(logFile)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		procs, logs = append(procs, cmd), append(logs, logFile)
	}

	var last string
	for ctx.Err() == nil {
		ok, why := clusterFormed(ctx, replicas)
		if ok {
			return
		}
		last = why
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no cluster with one leader and %d healthy peers within 90s: %s", replicas, last)
}

// clusterStatus is the part of GET /v1/cluster/status the test reads.
type clusterStatus struct {
	NodeID   string `json:"nodeId"`
	State    string `json:"state"`
	LeaderID string `json:"leaderId"`
	Peers    []struct {
		ID          string `json:"id"`
		Address     string `json:"address"`
		GRPCAddress string `json:"grpcAddress"`
		Suffrage    string `json:"suffrage"`
		Healthy     bool   `json:"healthy"`
	} `json:"peers"`
}

func getStatus(ctx context.Context, api rest, base string) (*clusterStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := api.get(ctx, base+"/v1/cluster/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", base, resp.StatusCode)
	}
	var st clusterStatus
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

// clusterFormed: every node names the same leader, exactly one node is
// leader, and the leader reports every pod as a healthy voter at its
// substituted (pod DNS name) raft address. Also /readyz on every node.
func clusterFormed(ctx context.Context, replicas int) (bool, string) {
	leaders, leaderID := 0, ""
	var leaderSt *clusterStatus
	for i := range replicas {
		base := fmt.Sprintf("http://127.0.8.%d:7401", i+1)
		st, err := getStatus(ctx, plainREST(), base)
		if err != nil {
			return false, err.Error()
		}
		if st.LeaderID == "" || (leaderID != "" && st.LeaderID != leaderID) {
			return false, fmt.Sprintf("%s sees leader %q", st.NodeID, st.LeaderID)
		}
		leaderID = st.LeaderID
		if st.State == "leader" {
			leaders++
			leaderSt = st
		}
		if code := httpCode(ctx, base+"/readyz"); code != http.StatusOK {
			return false, fmt.Sprintf("%s /readyz %d", st.NodeID, code)
		}
	}
	if leaders != 1 {
		return false, fmt.Sprintf("%d leaders", leaders)
	}
	if len(leaderSt.Peers) != replicas {
		return false, fmt.Sprintf("leader has %d peers", len(leaderSt.Peers))
	}
	for _, p := range leaderSt.Peers {
		var ordinal int
		if _, err := fmt.Sscanf(p.ID, "mx-mxprobe-%d", &ordinal); err != nil {
			return false, "unexpected peer id " + p.ID
		}
		if want := fmt.Sprintf("127.0.8.%d:7402", ordinal+1); p.Address != want || p.Suffrage != "voter" || !p.Healthy {
			return false, fmt.Sprintf("peer %s: address %s (want %s) suffrage %s healthy %v", p.ID, p.Address, want, p.Suffrage, p.Healthy)
		}
	}
	return true, ""
}

func httpCode(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cleanEnv is this process's environment without MXPROBE_* settings, so
// only what the chart renders configures the controllers.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MXPROBE_") {
			out = append(out, kv)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
