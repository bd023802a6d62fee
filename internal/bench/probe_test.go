package bench

import (
	"context"
	"strings"
	"testing"
)

// The event stream reader takes what the controller's SSE handler writes:
// a comment first, heartbeats between events, an event per blank line, and
// an error event that ends the stream.
func TestReadSSE(t *testing.T) {
	stream := ": mxprobe events after 0\n\n" +
		"id: 41\nevent: incident.opened\ndata: {\"cursor\":\"41\",\"type\":\"incident.opened\",\"incidentId\":\"inc-65c82a1cabe037e9-1\",\"fingerprint\":\"ab\",\"state\":\"INCIDENT_STATE_OPEN\"}\n\n" +
		": heartbeat\n\n" +
		"id: 42\nevent: incident.resolved\ndata: {\"cursor\":\"42\",\"type\":\"incident.resolved\",\"incidentId\":\"inc-65c82a1cabe037e9-1\"}\n\n" +
		"event: error\ndata: {\"code\":11,\"message\":\"compacted\"}\n\n" +
		"id: 43\nevent: incident.opened\ndata: {\"cursor\":\"43\"}\n\n"
	ch := make(chan Event, 10)
	err := readSSE(context.Background(), strings.NewReader(stream), ch)
	if err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Fatalf("error event: %v, want it to end the stream", err)
	}
	close(ch)
	var got []string
	for ev := range ch {
		got = append(got, ev.Event.GetType()+"@"+ev.Event.GetIncidentId())
		if ev.Arrived.IsZero() {
			t.Error("event without its arrival time")
		}
	}
	want := "incident.opened@inc-65c82a1cabe037e9-1 incident.resolved@inc-65c82a1cabe037e9-1"
	if strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if err := readSSE(context.Background(), strings.NewReader(": x\n\n"), make(chan Event, 1)); err == nil {
		t.Error("a stream that ended said nothing")
	}
}
