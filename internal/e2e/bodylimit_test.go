package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/clusterpki"
)

// readRSS reads a process's resident set size (KiB) from /proc.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	n, err := readRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rssSampler records a process's highest RSS (KiB) every 20 ms until
// stopped; base is the RSS when it started.
type rssSampler struct {
	base int64
	peak atomic.Int64
	quit chan struct{}
	done chan struct{}
}

func sampleRSS(t *testing.T, pid int) *rssSampler {
	s := &rssSampler{base: rssKiB(t, pid), quit: make(chan struct{}), done: make(chan struct{})}
	s.peak.Store(s.base)
	go func() {
		defer close(s.done)
		for {
			if n, err := readRSS(pid); err == nil && n > s.peak.Load() {
				s.peak.Store(n)
			}
			select {
			case <-s.quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop ends the sampling; it may be called more than once.
func (s *rssSampler) stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}

// zeroBody is a body of n bytes, generated as it is sent, that counts how
// many the server let the client send: the start of a JSON string that
// never ends ({"name":"aaaa...), which a decoder that reads before it
// authenticates has to hold whole.
type zeroBody struct {
	left, off int64
	sent      *atomic.Int64
}

const jsonPrefix = `{"name":"`

func (z *zeroBody) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	for i := range p[:n] {
		if z.off < int64(len(jsonPrefix)) {
			p[i] = jsonPrefix[z.off]
		} else {
			p[i] = 'a'
		}
		z.off++
	}
	z.left -= n
	z.sent.Add(n)
	return int(n), nil
}

// TestUnauthenticatedBodiesCannotExhaustMemory is the attack from the
// adversarial run against real controller processes: 4 x 256 MiB bodies
// without a token, at once, to a follower's and the leader's REST routes.
// They are refused before they are read: the controllers' resident memory
// (sampled from /proc while the bodies are sent) grows by less than 64 MiB.
// A body that trickles in without a token is answered 401 at once and the
// connection closed; an authenticated oversize body is 413; a restore
// upload on a follower is refused before it is read.
func TestUnauthenticatedBodiesCannotExhaustMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads resident memory from /proc")
	}
	sec, err := clusterpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cs := startCluster(t, 3, sec)
	l := cs.leaderIndex(t, -1)
	f := (l + 1) % 3
	tlsCfg := sec.HTTPClient().Transport.(*http.Transport).TLSClientConfig
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}

	const bodySize, bodies, maxGrowthKiB = 256 << 20, 4, 64 << 10
	paths := []string{"/v1/tokens", "/v1/incidents/inc-x:acknowledge", "/v1/cluster/restore", "/v1/agents/a00:revoke"}
	for _, target := range []struct {
		name string
		i    int
	}{{"follower", f}, {"leader", l}} {
		pid := cs.procs[target.i].cmd.Process.Pid
		rss := sampleRSS(t, pid)
		base := rss.base
		var wg sync.WaitGroup
		var sent atomic.Int64
		codes := make([]int, bodies*2)
		for k := range bodies * 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var body io.Reader = &zeroBody{left: bodySize, sent: &sent}
				chunked := k >= bodies
				if chunked {
					body = struct{ io.Reader }{body}
				}
				req, _ := http.NewRequest(http.MethodPost, "https://"+cs.http[target.i]+paths[k%len(paths)], body)
				if !chunked {
					req.ContentLength = bodySize
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return // closed before the client read the answer
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[k] = resp.StatusCode
			}()
		}
		wg.Wait()
		// Memory a handler had taken would still be held a moment later.
		time.Sleep(500 * time.Millisecond)
		rss.stop()
		after := rssKiB(t, pid)
		growth := max(rss.peak.Load(), after) - base
		t.Logf("%s: RSS %d KiB before, peak %d KiB, %d KiB after; the client sent %d MiB of %d MiB; answers %v",
			target.name, base, rss.peak.Load(), after, sent.Load()>>20, int64(bodies*2)*bodySize>>20, codes)
		if growth >= maxGrowthKiB {
			t.Errorf("%s: resident memory grew by %d MiB under unauthenticated bodies, want under 64 MiB", target.name, growth>>10)
		}
		for k, c := range codes {
			if c != 0 && c != http.StatusUnauthorized {
				t.Errorf("%s: POST %s without a token: %d, want 401", target.name, paths[k%len(paths)], c)
			}
		}
		if sent.Load() > int64(bodies*2)*32<<20 {
			t.Errorf("%s: the server read %d MiB of unauthenticated bodies", target.name, sent.Load()>>20)
		}

		// A slow body without a token: 401 without waiting for it, and the
		// connection closed.
		status, closed := slowRequest(t, cs.http[target.i], tlsCfg, "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n")
		if status != "401 Unauthorized" || !closed {
			t.Errorf("%s: slow body without a token: %q, connection closed %v; want 401 and closed", target.name, status, closed)
		}

		// With a token: 2 MiB is over the default 1 MiB limit.
		req, _ := http.NewRequest(http.MethodPost, "https://"+cs.http[target.i]+"/v1/tokens", &zeroBody{left: 2 << 20, sent: new(atomic.Int64)})
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+sec.Token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: authenticated oversize body: %v", target.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "http.max_body_bytes") {
			t.Errorf("%s: authenticated 2 MiB body: %d %s, want 413 naming http.max_body_bytes", target.name, resp.StatusCode, b)
		}
	}

	// A restore upload on a follower is refused before it is read.
	restoreSent := new(atomic.Int64)
	req, _ := http.NewRequest(http.MethodPost, "https://"+cs.http[f]+"/v1/cluster/restore", &zeroBody{left: 256 << 20, sent: restoreSent})
	req.ContentLength = 256 << 20
	req.Header.Set("Authorization", "Bearer "+sec.Token)
	if resp, err := client.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "leader") {
			t.Errorf("restore on a follower: %d %s, want 503 naming the leader", resp.StatusCode, b)
		}
	}
	if restoreSent.Load() > 32<<20 {
		t.Errorf("restore on a follower: the follower read %d MiB before refusing", restoreSent.Load()>>20)
	}
}

// slowRequest writes head and the first bytes of a body over TLS and then
// nothing more; it returns the status the server answered and whether it
// then closed the connection.
func slowRequest(t *testing.T, addr string, cfg *tls.Config, head string) (string, bool) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\n"+`{"name":`); err != nil {
		t.Fatal(err)
	}
	// A bound for failing instead of hanging, not a timing assertion.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.Status, err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}
