// Package apitest holds what tests of the HTTP API share, whether they run
// the API on its in-memory twin (package api) or on real nodes (package
// node): one REST call and its answer, the change feed's JSON event, and a
// Server-Sent Events reader.
package apitest

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"

	mxv1 "github.com/mxprobe/mxprobe/gen/mxprobe/v1"
)

// Answer is a REST answer read whole.
type Answer struct {
	Code   int
	Header http.Header
	Body   []byte
}

// Do sends one request with the given headers and reads the answer; it
// ends with the test's context.
func Do(t testing.TB, method, url string, header map[string]string, body string) Answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Answer{resp.StatusCode, resp.Header, b}
}

// Event is an incident change event as GET /v1/events lists it.
type Event struct {
	Cursor     string `json:"cursor"`
	Type       string `json:"type"`
	IncidentID string `json:"incidentId"`
	Sequence   string `json:"sequence"`
	Time       string `json:"time"`
}

// SSE is one Server-Sent Event.
type SSE struct{ ID, Event, Data string }

// ReadSSE parses a text/event-stream body into events until it ends
// (comments are skipped); the channel closes with the body.
func ReadSSE(r io.Reader) <-chan SSE {
	ch := make(chan SSE, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		var e SSE
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if e.Event != "" || e.Data != "" {
					ch <- e
				}
				e = SSE{}
			case strings.HasPrefix(line, "id: "):
				e.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.Data = line[6:]
			}
		}
	}()
	return ch
}

// NextSSE waits for the next event; the test fails if the stream ends.
func NextSSE(t testing.TB, ch <-chan SSE) SSE {
	t.Helper()
	e, ok := <-ch
	if !ok {
		t.Fatal("SSE stream ended")
	}
	return e
}

// TimelineKinds counts an incident timeline's entries of one kind.
func TimelineKinds(inc *mxv1.Incident, kind string) int {
	n := 0
	for _, e := range inc.GetTimeline() {
		if e.GetKind() == kind {
			n++
		}
	}
	return n
}
