package node

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/controller/api"
)

// zeros is a body that counts what the server made it send; with json set
// it is a JSON string that never ends ({"name":"aaaa...), which a decoder
// reading before authentication would have to hold whole.
type zeros struct {
	left, off int64
	json      bool
	sent      atomic.Int64
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	clear(p[:n])
	if z.json {
		const prefix = `{"name":"`
		for i := range p[:n] {
			if z.off+int64(i) < int64(len(prefix)) {
				p[i] = prefix[z.off+int64(i)]
			} else {
				p[i] = 'a'
			}
		}
	}
	z.off += n
	z.left -= n
	z.sent.Add(n)
	return int(n), nil
}

// postBody sends size zero bytes to path, with a Content-Length or chunked,
// and returns the status (0 if the server closed the connection before a
// response reached the client) and how many bytes the client got to send.
func postBody(t *testing.T, client *http.Client, url, token string, size int64, chunked bool) (int, int64) {
	t.Helper()
	z := &zeros{left: size, json: token == "" || strings.HasPrefix(token, "mxp_abc")}
	var body io.Reader = z
	if chunked {
		body = struct{ io.Reader }{z} // hides the length
	}
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if !chunked {
		req.ContentLength = size
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		if !strings.HasPrefix(token, "mxp_abc") {
			req.Header.Set("Expect", "100-continue")
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, z.sent.Load()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, z.sent.Load()
}

// rawRequest opens a TLS connection to addr, writes head (request line and
// headers) and the first bytes of a body, then stops sending; it returns
// the status line the server answered and whether the server then closed
// the connection.
func rawRequest(t *testing.T, addr string, cfg *tls.Config, head, partialBody string) (string, bool) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\n"+partialBody); err != nil {
		t.Fatal(err)
	}
	// A failure bound, not a timing assertion: a server that never answers
	// fails the test instead of hanging it.
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

// Bodies on the HTTP port: no token, no body read (401 and the connection
// closed, however large or slow the body); with a token, bodies over the
// limit are 413 whether announced or chunked, and a body that does not
// arrive in time ends the connection; restores have their own limit, are
// spooled to disk and round-trip a real backup.
func TestHTTPBodiesAreAuthenticatedAndBounded(t *testing.T) {
	// Timeout is what the slow-body case waits out; RestoreTimeout only
	// bounds the 4 MiB uploads, which take more than a second on a loaded
	// machine (and were then cut, status 0, instead of answered 413).
	limits := api.BodyLimits{MaxBytes: 64 << 10, MaxRestoreBytes: 4 << 20, Timeout: 3 * time.Second, RestoreTimeout: 2 * time.Minute}
	sc := newSecureCluster(t, 1, func(c *Config) {
		c.BodyLimits = limits
	})
	clusterCA, nodes := sc.clusterCA, sc.nodes
	l := leader(t, nodes)
	addr := l.n.HTTPAddr()
	base := "https://" + addr
	// ExpectContinueTimeout: authenticated posts send "Expect:
	// 100-continue" (postBody), so a body refused from its Content-Length
	// is answered 413 before the client starts writing it, instead of the
	// client racing the server's close with its write.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: clusterCA.clientTLS(), ExpectContinueTimeout: time.Minute}}

	const huge = 256 << 20
	for _, path := range []string{"/v1/tokens", "/v1/incidents/inc-x:acknowledge", "/v1/cluster/restore", "/v1/tlsrpt/reports:import", "/debug/pprof/"} {
		for _, chunked := range []bool{false, true} {
			for _, tok := range []string{"", "mxp_abc_not-a-real-secret"} {
				code, sent := postBody(t, client, base+path, tok, huge, chunked)
				if code != 0 && code != http.StatusUnauthorized {
					t.Errorf("POST %s without a valid token (chunked %v): %d, want 401", path, chunked, code)
				}
				// What the kernel buffers took is all the client could send.
				if sent > 32<<20 {
					t.Errorf("POST %s without a valid token (chunked %v): the server read %d MiB of the body", path, chunked, sent>>20)
				}
			}
		}
	}

	for _, chunked := range []bool{false, true} {
		for _, path := range []string{"/v1/tokens", "/v1/incidents/inc-x:acknowledge"} {
			if code, _ := postBody(t, client, base+path, bootstrapToken, limits.MaxBytes+1, chunked); code != http.StatusRequestEntityTooLarge {
				t.Errorf("POST %s with %d bytes (chunked %v): %d, want 413", path, limits.MaxBytes+1, chunked, code)
			}
		}
		if code, _ := postBody(t, client, base+api.RestorePath, bootstrapToken, limits.MaxRestoreBytes+1, chunked); code != http.StatusRequestEntityTooLarge {
			t.Errorf("restore of %d bytes (chunked %v): %d, want 413", limits.MaxRestoreBytes+1, chunked, code)
		}
	}
	// Within the limit the body reaches the API: zeros are not JSON (400).
	if code, _ := postBody(t, client, base+"/v1/tokens", bootstrapToken, limits.MaxBytes, false); code != http.StatusBadRequest {
		t.Errorf("POST /v1/tokens with %d bytes of zeros: %d, want 400", limits.MaxBytes, code)
	}
	// A TLS-RPT import carries a whole report whatever the general limit.
	if code, _ := postBody(t, client, base+"/v1/tlsrpt/reports:import", bootstrapToken, 1<<20, false); code == http.StatusRequestEntityTooLarge {
		t.Errorf("1 MiB TLS-RPT import: 413")
	}

	// Slow bodies: without a token refused at once and the connection
	// closed; with one, the body must arrive within limits.Timeout.
	for _, c := range []struct {
		name, auth, want string
	}{
		{"no token", "", "401 Unauthorized"},
		{"token, body too slow", "Authorization: Bearer " + bootstrapToken + "\r\n", "408 Request Timeout"},
	} {
		head := "POST /v1/tokens HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n" + c.auth
		status, closed := rawRequest(t, addr, clusterCA.clientTLS(), head, `{"name":`)
		if status != c.want || !closed {
			t.Errorf("%s: %q, connection closed %v; want %q and closed", c.name, status, closed, c.want)
		}
	}

	// Backup and restore still round-trip, the upload spooled to a file.
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/cluster/backup", nil)
	req.Header.Set("Authorization", "Bearer "+bootstrapToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	backup, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(backup) == 0 {
		t.Fatalf("backup: %d, %d bytes", resp.StatusCode, len(backup))
	}
	req, _ = http.NewRequest(http.MethodPost, base+api.RestorePath, bytes.NewReader(backup))
	req.Header.Set("Authorization", "Bearer "+bootstrapToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("restore: %d %s", resp.StatusCode, b)
	}
}
