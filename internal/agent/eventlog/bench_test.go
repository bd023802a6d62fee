package eventlog_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog/evtxtest"
)

// BenchmarkReadEVTX reads an export of 20000 events (half of them wanted)
// and reports the file throughput.
func BenchmarkReadEVTX(b *testing.B) {
	var evs []eventlog.Event
	for i := range 20000 {
		e := eventlog.Event{Provider: "MSExchangeTransport", Channel: "Application", ID: 12014, Time: t0.Add(time.Duration(i) * time.Second),
			Computer: "E19.contoso.lab", Data: []string{fmt.Sprintf("host%d.contoso.com", i), "Default Frontend E19", "mail.contoso.com"}}
		if i%2 == 1 {
			e.Provider, e.ID = "MSExchangeIS", 1000
		}
		evs = append(evs, e)
	}
	img := evtxtest.Bytes(evs)
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := eventlog.ReadEVTX(context.Background(), bytes.NewReader(img), int64(len(img)), eventlog.Query{})
		if err != nil || res.Scanned != 20000 || len(res.Events) != 10000 {
			b.Fatalf("%v scanned %d wanted %d", err, res.Scanned, len(res.Events))
		}
	}
}
