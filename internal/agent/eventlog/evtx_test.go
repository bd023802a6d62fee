package eventlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
	"github.com/mxprobe/mxprobe/internal/agent/eventlog/evtxtest"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

var t0 = time.Date(2026, 12, 2, 6, 32, 10, 118000000, time.UTC)

func sample() []eventlog.Event {
	return []eventlog.Event{
		{Provider: "MSExchangeFrontEndTransport", Channel: "Application", ID: 12014, Level: 2, Time: t0, Computer: "E19.contoso.lab",
			Data: []string{"mail.contoso.com", "Default Frontend E19", "mail.contoso.com"}, DataNames: []string{"", "", ""}},
		{Provider: "Service Control Manager", Channel: "System", ID: 7036, Level: 4, Time: t0.Add(time.Second), Computer: "E19.contoso.lab",
			Data: []string{"Windows Update", "running"}, DataNames: []string{"param1", "param2"}},
		{Provider: "MSExchangeTransport", Channel: "Application", ID: 12016, Level: 2, Time: t0.Add(2 * time.Second), Computer: "E19.contoso.lab",
			Data: []string{"mail.contoso.com"}, DataNames: []string{""}},
		{Provider: "Schannel", Channel: "System", ID: 36888, Level: 2, Time: t0.Add(3 * time.Second), Computer: "E19.contoso.lab",
			Data: []string{"40", "1205"}, DataNames: []string{"AlertDesc", "ErrorState"}},
	}
}

func withRecordIDs(evs []eventlog.Event, ids ...uint64) []eventlog.Event {
	out := make([]eventlog.Event, len(evs))
	for i, e := range evs {
		e.RecordID = ids[i]
		out[i] = e
	}
	return out
}

func TestEVTXRoundTrip(t *testing.T) {
	path := filepath.Join(tempdir.New(t), "Application.evtx")
	if err := evtxtest.Write(path, sample()); err != nil {
		t.Fatal(err)
	}
	f := &eventlog.File{Path: path}
	res, err := f.Read(context.Background(), eventlog.Query{})
	if err != nil {
		t.Fatal(err)
	}
	s := sample()
	want := withRecordIDs([]eventlog.Event{s[0], s[2], s[3]}, 1, 3, 4)
	if !reflect.DeepEqual(res.Events, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", res.Events, want)
	}
	if res.Scanned != 4 || res.Skipped != 0 || res.Truncated {
		t.Errorf("scanned %d skipped %d truncated %v, want 4 0 false", res.Scanned, res.Skipped, res.Truncated)
	}
}

// Many records fill several chunks: names and the template are defined
// again in each chunk, and Since and Max select the newest.
func TestEVTXManyChunksSinceAndMax(t *testing.T) {
	var evs []eventlog.Event
	for i := range 3000 {
		evs = append(evs, eventlog.Event{Provider: "MSExchangeTransport", Channel: "Application", ID: 12014, Level: 2,
			Time: t0.Add(time.Duration(i) * time.Minute), Computer: "E19.contoso.lab",
			Data: []string{fmt.Sprintf("host%d.contoso.com", i), "Default E19", "mail.contoso.com"}})
	}
	img := evtxtest.Bytes(evs)
	if chunks := (len(img) - 4096) / 65536; chunks < 3 {
		t.Fatalf("%d chunks, want several", chunks)
	}
	res, err := eventlog.ReadEVTX(context.Background(), bytes.NewReader(img), int64(len(img)), eventlog.Query{Since: t0.Add(1000 * time.Minute), Max: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scanned != 3000 || len(res.Events) != 50 || !res.Truncated {
		t.Fatalf("scanned %d, %d events, truncated %v; want 3000, 50, true", res.Scanned, len(res.Events), res.Truncated)
	}
	if got := res.Events[49].Arg(1); got != "host2999.contoso.com" {
		t.Errorf("newest kept is %q", got)
	}
	if got := res.Events[0].Arg(1); got != "host2950.contoso.com" {
		t.Errorf("oldest kept is %q", got)
	}
}

func TestEVTXRefusesOtherFiles(t *testing.T) {
	for name, img := range map[string][]byte{
		"empty":    {},
		"text":     []byte("Log Name: Application\nSource: MSExchangeTransport\n"),
		"no chunk": evtxtest.Bytes(nil)[:4096],
	} {
		_, err := eventlog.ReadEVTX(context.Background(), bytes.NewReader(img), int64(len(img)), eventlog.Query{})
		switch name {
		case "no chunk":
			if !errors.Is(err, eventlog.ErrNoRecords) {
				t.Errorf("%s: %v, want ErrNoRecords", name, err)
			}
		default:
			if !errors.Is(err, eventlog.ErrNotEVTX) {
				t.Errorf("%s: %v, want ErrNotEVTX", name, err)
			}
		}
	}
}

// A damaged record is counted and skipped; the chunks after it still read.
func TestEVTXDamagedRecordSkipped(t *testing.T) {
	var evs []eventlog.Event
	for i := range 1500 {
		evs = append(evs, eventlog.Event{Provider: "MSExchangeTransport", Channel: "Application", ID: 12016, Time: t0.Add(time.Duration(i) * time.Second),
			Computer: "E19", Data: []string{fmt.Sprintf("h%d.contoso.com", i)}})
	}
	img := evtxtest.Bytes(evs)
	// Corrupt the binary XML of the first chunk's second record.
	first := 4096 + 512
	size := int(img[first+4]) | int(img[first+5])<<8
	for i := first + size + 24; i < first+size+60; i++ {
		img[i] = 0xee
	}
	res, err := eventlog.ReadEVTX(context.Background(), bytes.NewReader(img), int64(len(img)), eventlog.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped == 0 || len(res.Events) < 1000 || len(res.Events) >= 1500 {
		t.Fatalf("skipped %d, read %d of 1500", res.Skipped, len(res.Events))
	}
}
