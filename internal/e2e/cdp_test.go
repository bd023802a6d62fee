package e2e

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// browser is headless Chromium driven over the Chrome DevTools Protocol
// (a websocket to one page), enough to fill in and submit a form the way a
// person does: navigate, evaluate JavaScript in the page, screenshot. The
// protocol is small enough that a client library is not worth a module
// dependency; x/net/websocket is already one.
type browser struct {
	t    *testing.T
	cmd  *exec.Cmd
	ws   *websocket.Conn
	next int
}

var devtoolsRe = regexp.MustCompile(`DevTools listening on (ws://[^\s]+)`)

func startBrowser(t *testing.T, chromium, size string) *browser {
	t.Helper()
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1", "--user-data-dir="+t.TempDir(), "--window-size="+size, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, cmd: cmd}
	t.Cleanup(b.close)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := devtoolsRe.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	var browserWS string
	select {
	case browserWS = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not print its DevTools address within 60s")
	}
	// The page target's websocket, from the HTTP endpoint next to it.
	host := strings.TrimPrefix(browserWS, "ws://")
	host = host[:strings.IndexByte(host, '/')]
	var pageWS string
	waitFor(t, 30*time.Second, "chromium's page target", func() bool {
		resp, err := http.Get("http://" + host + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var targets []struct{ Type, WebSocketDebuggerURL string }
		if json.NewDecoder(resp.Body).Decode(&targets) != nil {
			return false
		}
		for _, tg := range targets {
			if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
				pageWS = tg.WebSocketDebuggerURL
				return true
			}
		}
		return false
	})
	ws, err := websocket.Dial(pageWS, "", "http://127.0.0.1")
	if err != nil {
		t.Fatalf("devtools websocket: %v", err)
	}
	ws.MaxPayloadBytes = 64 << 20 // screenshots
	b.ws = ws
	return b
}

func (b *browser) close() {
	if b.ws != nil {
		_ = b.ws.Close()
	}
	if b.cmd.Process != nil {
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	}
}

// call sends one DevTools command and returns its result, skipping the
// events that arrive meanwhile.
func (b *browser) call(method string, params map[string]any) (json.RawMessage, error) {
	b.next++
	id := b.next
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	_ = b.ws.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := websocket.JSON.Receive(b.ws, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		if m.ID != id {
			continue
		}
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	}
}

// eval evaluates a JavaScript expression in the page; ok is false when it
// threw or the page was between documents.
func (b *browser) eval(expr string) (value any, ok bool) {
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return nil, false
	}
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if json.Unmarshal(res, &r) != nil || r.ExceptionDetails != nil {
		return nil, false
	}
	return r.Result.Value, true
}

// navigate loads url and waits until the document is complete.
func (b *browser) navigate(url string) {
	b.t.Helper()
	if _, err := b.call("Page.navigate", map[string]any{"url": url}); err != nil {
		b.t.Fatal(err)
	}
	b.waitJS(`document.readyState === "complete" && location.href === ` + jsString(url))
}

// waitJS waits until a JavaScript condition holds in the page.
func (b *browser) waitJS(cond string) {
	b.t.Helper()
	waitFor(b.t, 60*time.Second, "the page: "+cond, func() bool {
		v, ok := b.eval(cond)
		return ok && v == true
	})
}

// screenshot saves the viewport as a PNG.
func (b *browser) screenshot(file string) {
	b.t.Helper()
	res, err := b.call("Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		b.t.Fatal(err)
	}
	var r struct{ Data string }
	if err := json.Unmarshal(res, &r); err != nil {
		b.t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil || len(png) < 10000 {
		b.t.Fatalf("screenshot %s: %d bytes, %v", file, len(png), err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", file)
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}
